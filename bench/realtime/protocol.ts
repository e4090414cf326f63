/** Messages between the realtime benchmark's orchestrator and its server and client processes. */

import { messageData } from '../message-data.ts';

/** What is measured: two Pombo endpoints and the bare servers they are compared with. */
export type Target = 'pombo-socketio' | 'bare-socketio' | 'pombo-ws' | 'bare-ws';

export type ServerKind = 'pombo' | 'bare-socketio' | 'bare-ws';
export type ClientKind = 'socketio' | 'sdk' | 'ws';

export interface Endpoint {
  url: string;
  apiKey: string;
  instance: string;
}

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  /** The pages of V8's young generation (new space) in memory. */
  youngGeneration: number;
}

export type ServerRequest =
  | { type: 'start'; kind: ServerKind }
  | { type: 'memory' }
  /** The server process's CPU time so far (user + system), in µs. */
  | { type: 'cpu' }
  /** Emits `count` events, `rate` per second (0: as fast as the server takes them). */
  | { type: 'broadcast'; count: number; rate: number }
  /** Emits `count` events, `rate` per second, those due in each tick of `tickMs` as one batch (`realtime-saturation.ts`). */
  | { type: 'offer'; count: number; rate: number; tickMs: number }
  /**
   * Emits `count` events while no client is connected, for clients that resume: Pombo keeps them in
   * its log for each subscriber; a bare `ws` server sends the same frames to every new connection.
   */
  | { type: 'backlog'; count: number };

export type ServerReply =
  | { type: 'ready'; endpoint: Endpoint }
  | { type: 'memory'; memory: Memory }
  | { type: 'cpu'; micros: number }
  | { type: 'sent'; firstAt: number; lastAt: number }
  | { type: 'backlogged' };

export type ClientRequest =
  | { type: 'connect'; kind: ClientKind; endpoint: Endpoint; clients: number }
  /** Waits until every client (`clients`, default those connected now) got `count` more events (or `timeoutMs` passes). */
  | { type: 'expect'; count: number; timeoutMs: number; clients?: number }
  /** Closes every client (SDK subscriptions end cleanly, so their acks are in). */
  | { type: 'disconnect' };

export interface Received {
  /** Events handed to the clients' handlers, repeats included. */
  messages: number;
  /** Of those, events a client had already got (each client gets each event once, in order, unless something went wrong). */
  repeats: number;
  expected: number;
  firstAt: number;
  lastAt: number;
  p50: number;
  p99: number;
  max: number;
}

export type ClientReply = { type: 'connected'; ms: number } | { type: 'received'; received: Received } | { type: 'disconnected' };

/** Events delivered once each, as `delivered/expected`, with the repeats if there were any. */
export const deliveredOf = ({ messages, repeats, expected }: Received): string =>
  `${messages - repeats}/${expected}${repeats ? ` (+${repeats} repeats)` : ''}`;

/** Wall-clock time in ms with sub-ms precision, comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now();

/** A MESSAGES_UPSERT's data stamped with when it was emitted (for latency). */
export const stampedMessage = (n: number, sentAt: number) => messageData(n, { sentAt });

/** The server process's CPU time so far (user + system), in µs. */
export const serverCpu = async (server: import('node:child_process').ChildProcess): Promise<number> =>
  (await ask<Extract<ServerReply, { type: 'cpu' }>>(server, { type: 'cpu' }, 'cpu')).micros;

/** Sends a message to the parent (or child) and waits for the reply of the given type. */
export function ask<Reply extends { type: string }>(target: NodeJS.Process | import('node:child_process').ChildProcess, message: unknown, type: Reply['type']): Promise<Reply> {
  return new Promise((resolve) => {
    const listener = (reply: Reply) => {
      if (reply.type !== type) return;
      target.off('message', listener);
      resolve(reply);
    };
    target.on('message', listener);
    target.send?.(message as never);
  });
}
