import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const COOKIE = 'pombo_manager';
/** A manager session ends after this long, logged out or not. */
const SESSION_TTL_MS = 12 * 3_600_000;

/** The value of one cookie in a `Cookie` header. */
function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/**
 * Logged-in manager sessions. The cookie holds a random session id, never the API key; the id is
 * known only to this process (a restart logs everyone out, and with several nodes a browser must
 * stay on the one it logged in to).
 */
export class ManagerSessions {
  private readonly expiries = new Map<string, number>();

  /** `secure`: the cookie is sent over HTTPS only (when Pombo's public URL is https://). */
  constructor(private readonly secure: boolean) {}

  /** Starts a session and sets its cookie: HttpOnly (no script reads it), SameSite=Strict (no other site sends it). */
  start(reply: FastifyReply): void {
    this.prune();
    const id = randomBytes(32).toString('base64url');
    this.expiries.set(id, Date.now() + SESSION_TTL_MS);
    reply.header('set-cookie', this.cookie(id, SESSION_TTL_MS / 1000));
  }

  /** The request's session id, if it is a live session. */
  of(request: FastifyRequest): string | undefined {
    const id = cookieOf(request, COOKIE);
    if (!id) return undefined;
    const expiry = this.expiries.get(id);
    if (expiry === undefined) return undefined;
    if (expiry > Date.now()) return id;
    this.expiries.delete(id);
    return undefined;
  }

  alive(id: string): boolean {
    return (this.expiries.get(id) ?? 0) > Date.now();
  }

  end(request: FastifyRequest, reply: FastifyReply): void {
    const id = cookieOf(request, COOKIE);
    if (id) this.expiries.delete(id);
    reply.header('set-cookie', this.cookie('', 0));
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return `${COOKIE}=${value}; Path=/manager; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${this.secure ? '; Secure' : ''}`;
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, expiry] of this.expiries) if (expiry <= now) this.expiries.delete(id);
  }
}
