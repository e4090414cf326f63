import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/** One request a receiver got. */
export interface Received {
  method: string;
  /** Path and query string, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly the bytes received (signatures are verified over it). */
  body: string;
  json: any;
  /** When it arrived (ms since epoch). */
  at: number;
}

/** How the receiver answers one request; `hang` never answers (timeouts, slow endpoints). */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  hang?: boolean;
}

export type Responder = (request: Received, received: readonly Received[]) => Reply | Promise<Reply>;

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: Received[];
  /** Requests answered with a 2xx. */
  accepted(): Received[];
  /** Event ids answered with a 2xx, in arrival order. */
  deliveredIds(): string[];
  respond: Responder;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1, port 0, that records every request and answers as `respond` says (200 by default). */
export async function startReceiver(respond: Responder = () => ({ status: 200 })): Promise<Receiver> {
  const requests: Received[] = [];
  const statuses = new Map<Received, number>();
  const hanging = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const received: Received = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body, json, at: Date.now() };
      requests.push(received);
      const reply = await receiver.respond(received, requests);
      if (reply.hang) {
        hanging.add(response);
        return;
      }
      statuses.set(received, reply.status ?? 200);
      response.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...reply.headers });
      response.end(reply.body ?? 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const accepted = () => requests.filter((request) => (statuses.get(request) ?? 0) < 300 && statuses.has(request));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}`,
    requests,
    accepted,
    deliveredIds: () => accepted().map((request) => request.json?.id as string),
    respond,
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

/** A receiver closed when the test ends, whether it passed or not. */
export async function receiverFor(t: TestContext, respond?: Responder): Promise<Receiver> {
  const receiver = await startReceiver(respond);
  t.after(() => receiver.close());
  return receiver;
}
