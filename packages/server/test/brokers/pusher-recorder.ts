import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Pusher-protocol test server of scripts/services/pusher.sh: it checks signatures and records triggers. */
export const PUSHER_URL = 'http://127.0.0.1:6001';

export interface Recorded {
  readonly appId: string;
  readonly channel: string;
  readonly name: string;
  readonly data: string;
}

export async function pusherAvailable(): Promise<boolean> {
  try {
    return (await fetch(`${PUSHER_URL}/_health`)).ok;
  } catch {
    return false;
  }
}

/** The test server's app; its secret is generated once and kept in the services folder. */
export function testApp(port = 6001) {
  const root = process.env.POMBO_SERVICES_DIR ?? join(homedir(), '.cache', 'pombo-services');
  const secret = readFileSync(process.env.PUSHER_SECRET_FILE ?? join(root, 'pusher', 'secret'), 'utf8').trim();
  return { appId: 'pombo-test', key: 'pombo-key', secret, host: '127.0.0.1', port, useTLS: false };
}

/** Everything triggered on a channel, in the order the server took it. */
export async function recorded(channel: string): Promise<Recorded[]> {
  const response = await fetch(`${PUSHER_URL}/_recorded?channel=${encodeURIComponent(channel)}`);
  return (await response.json()) as Recorded[];
}

/** The data of each recorded event, parsed as a pusher-js client would. */
export const dataOf = (events: readonly Recorded[]): any[] => events.map((event) => JSON.parse(event.data));

/** Makes the next `count` trigger calls answer `status` (the server's fault injection). */
export async function failNextTriggers(status: number, count: number): Promise<void> {
  const response = await fetch(`${PUSHER_URL}/_faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status, count }) });
  if (!response.ok) throw new Error(`could not set a fault: ${response.status}`);
}
