/** The part of the WebSocket API (browsers, Node 22, the `ws` package) a subscription uses. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export const OPEN = 1;

/** Opens a socket; `headers` is undefined when the implementation cannot send any (credentials go in the query). */
export interface Transport {
  readonly headers: boolean;
  open(url: string, headers: Record<string, string>, onRefused: (status: number, body: string) => void): SocketLike;
}

type WsModule = { default: new (url: string, options: { headers: Record<string, string> }) => SocketLike & WsEvents };
type WsEvents = { on(event: 'unexpected-response', listener: (request: unknown, response: HttpResponse) => void): void };
type HttpResponse = { statusCode?: number; on(event: string, listener: (chunk?: unknown) => void): void };

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** The `ws` package: headers for credentials, and the HTTP status of a refused handshake. */
async function wsTransport(): Promise<Transport | undefined> {
  const name = 'ws'; // a variable, so that browser bundlers leave this optional import alone
  const module = (await import(name).catch(() => undefined)) as WsModule | undefined;
  if (!module) return undefined;
  return {
    headers: true,
    open(url, headers, onRefused) {
      const socket = new module.default(url, { headers });
      socket.on('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk) => (body += String(chunk)));
        response.on('end', () => {
          onRefused(response.statusCode ?? 0, body);
          socket.close(); // aborts the handshake: the close that follows carries the refusal
        });
      });
      return socket;
    },
  };
}

function nativeTransport(): Transport | undefined {
  const Native = (globalThis as { WebSocket?: new (url: string) => SocketLike }).WebSocket;
  if (!Native) return undefined;
  return { headers: false, open: (url) => new Native(url) };
}

/**
 * In Node, the `ws` package when it is installed (credentials in headers, clear refusals), else the
 * built-in WebSocket of Node 22; in browsers, the browser's WebSocket (credentials in the query).
 */
export async function defaultTransport(): Promise<Transport> {
  const transport = (isNode() ? await wsTransport() : undefined) ?? nativeTransport();
  if (!transport) throw new Error('no WebSocket implementation: on Node 20, install the "ws" package (npm install ws)');
  return transport;
}
