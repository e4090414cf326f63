import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo, type Pombo } from '../../src/pombo.ts';

export interface Harness {
  pombo: Pombo;
  url: string;
  apiKey: string;
  dataDir: string;
  /** Calls the HTTP API with the global key (or `key`); returns status and parsed JSON. */
  api<T = any>(method: string, path: string, body?: unknown, key?: string | null): Promise<{ status: number; body: T }>;
  /** Creates and connects a sandbox instance; returns its token. */
  sandbox(name: string, extra?: Record<string, unknown>): Promise<{ token: string; id: string }>;
  close(options?: { keepData?: boolean }): Promise<void>;
}

export const uniqueName = (prefix = 'inst'): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/**
 * Starts a real Pombo on a random port with its own data folder. `env` adds variables
 * (e.g. WEBHOOK_GLOBAL_URL); `dataDir` reuses a folder (restart tests).
 */
export async function startPombo(env: Record<string, string> = {}, dataDir?: string): Promise<Harness> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'pombo-test-'));
  const apiKey = env.AUTHENTICATION_API_KEY ?? `test-key-${randomBytes(8).toString('hex')}`;
  // Test receivers listen on 127.0.0.1: private addresses are allowed unless a test says otherwise.
  const config = loadConfig({ LOG_LEVEL: 'warn', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...env, AUTHENTICATION_API_KEY: apiKey, DATA_DIR: dir }, dir);
  const pombo = await createPombo(config, createLogger(process.env.POMBO_TEST_LOG ?? 'silent'));
  const address = await pombo.listen(0);
  const url = address.replace('0.0.0.0', '127.0.0.1');
  const harness: Harness = {
    pombo,
    url,
    apiKey,
    dataDir: dir,
    async api(method, path, body, key = apiKey) {
      const headers: Record<string, string> = {};
      if (key !== null) headers.apikey = key;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON (e.g. /metrics)
      }
      return { status: response.status, body: parsed as any };
    },
    async sandbox(name, extra = {}) {
      const created = await harness.api('POST', '/instance/create', { instanceName: name, qrcode: true, ...extra });
      if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
      return { token: created.body.hash, id: created.body.instance.instanceId };
    },
    async close({ keepData = false } = {}) {
      await pombo.close();
      if (!keepData && !dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Runs `use` against a fresh Pombo (with `env`), closed afterwards whatever happens. */
export async function withPombo(env: Record<string, string>, use: (pombo: Harness) => Promise<void>): Promise<void> {
  const pombo = await startPombo(env);
  try {
    await use(pombo);
  } finally {
    await pombo.close();
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/**
 * Whether a service is required: under CI=true a missing service fails the test instead of skipping it.
 */
export function requireService(available: boolean, name: string, how: string): { skip: string } | Record<string, never> {
  if (available) return {};
  if (process.env.CI === 'true') throw new Error(`${name} is not reachable and CI=true: ${how}`);
  return { skip: `${name} is not reachable (${how})` };
}
