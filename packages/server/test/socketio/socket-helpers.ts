import { after, before } from 'node:test';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { eventually, startPombo, type Harness } from '../helpers/pombo-harness.ts';

export type Options = Partial<ManagerOptions & SocketOptions>;

/** A `connect_error` as the client sees it: a message for people, `data.code` for programs. */
export type ConnectError = Error & { data?: { code?: string; status?: number } };

/** One received Socket.IO event. */
export interface Received {
  name: string;
  payload: any;
}

/** Real socket.io-client sockets opened by a test, and what each received (in order). */
export class Clients {
  private readonly sockets: Socket[] = [];
  private readonly inboxes = new Map<Socket, Received[]>();

  /** Opens a socket and records every event it receives, without waiting for the connection. */
  open(url: string, options: Options = {}): Socket {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
    const inbox: Received[] = [];
    socket.onAny((name: string, payload: unknown) => inbox.push({ name, payload }));
    this.sockets.push(socket);
    this.inboxes.set(socket, inbox);
    return socket;
  }

  /** Opens a socket and resolves once it is connected (rejects with its connect_error). */
  async connect(url: string, options: Options = {}): Promise<Socket> {
    const socket = this.open(url, options);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    return socket;
  }

  /** Opens a socket that must be refused; resolves to its connect_error. */
  async refused(url: string, options: Options = {}): Promise<ConnectError> {
    const socket = this.open(url, options);
    return new Promise<ConnectError>((resolve, reject) => {
      socket.once('connect', () => reject(new Error(`${url} accepted a connection that should have been refused`)));
      socket.once('connect_error', (error: ConnectError) => resolve(error));
    });
  }

  received(socket: Socket, name?: string): Received[] {
    const inbox = this.inboxes.get(socket) ?? [];
    return name === undefined ? [...inbox] : inbox.filter((item) => item.name === name);
  }

  /** Waits until the socket received an event matching `match`, and returns it. */
  async waitFor(socket: Socket, what: string, match: (item: Received) => boolean, timeoutMs = 10_000): Promise<Received> {
    return eventually(() => this.received(socket).find(match), what, timeoutMs);
  }

  closeAll(): void {
    for (const socket of this.sockets) socket.close();
  }
}

/** Socket.IO URL of one instance's namespace, written as in seed 002 (`ws://host:port/<instanceName>`). */
export const namespaceUrl = (pombo: Harness, instance: string): string => `${pombo.url.replace(/^http/, 'ws')}/${instance}`;

/** Appends events to an instance through the ingest API; returns their ids in order. */
export async function ingest(pombo: Harness, instance: string, items: Array<{ event: string; data: unknown }>): Promise<string[]> {
  const response = await pombo.api('POST', `/events/${instance}`, { events: items });
  if (response.status !== 201) throw new Error(`ingest into ${instance}: ${response.status} ${JSON.stringify(response.body)}`);
  return (response.body.events as Array<{ id: string }>).map((event) => event.id);
}

/** `count` numbered MESSAGES_UPSERT events (`data.n` = from, from+1, …). */
export const numbered = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ event: 'MESSAGES_UPSERT', data: { n: from + i } }));

/** Runs `body` with its own Pombo (started with `env`) and clients, closing both afterwards. */
export async function withPombo(env: Record<string, string>, body: (pombo: Harness, clients: Clients) => Promise<void>): Promise<void> {
  const pombo = await startPombo(env);
  const clients = new Clients();
  try {
    await body(pombo, clients);
  } finally {
    clients.closeAll();
    await pombo.close();
  }
}

/** One Pombo and one set of clients shared by the tests of a file (started before them, closed after). */
export function pomboForFile(env: Record<string, string> = {}): { pombo: Harness; clients: Clients } {
  const shared = { pombo: undefined as unknown as Harness, clients: new Clients() };
  before(async () => {
    shared.pombo = await startPombo(env);
  });
  after(async () => {
    shared.clients.closeAll();
    await shared.pombo.close();
  });
  return shared;
}
