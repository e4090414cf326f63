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

/**
 * How a transport tells a dead connection: a socket that received no ping and no frame for
 * `timeoutMs` is terminated (its close follows, and with it a reconnect), after `onStale`.
 */
export interface Liveness {
  readonly timeoutMs: number;
  onStale(): void;
}

/** Opens a socket; `headers` is false when the implementation cannot send any (credentials go in the query). */
export interface Transport {
  readonly headers: boolean;
  /** `liveness` is for the transports that can see the server's pings (`ws`); others may ignore it. */
  open(url: string, headers: Record<string, string>, onRefused: (status: number, body: string) => void, liveness?: Liveness): SocketLike;
}

/** A handshake that takes longer fails, and the next attempt follows (the server gives up on its side after 10 s). */
export const HANDSHAKE_TIMEOUT_MS = 15_000;

type WsOptions = { headers: Record<string, string>; handshakeTimeout: number };
type WsSocket = SocketLike & WsEvents & { terminate(): void };
type WsModule = { default: new (url: string, options: WsOptions) => WsSocket };
type WsEvents = {
  on(event: 'unexpected-response', listener: (request: unknown, response: HttpResponse) => void): void;
  on(event: 'open' | 'ping' | 'message' | 'close', listener: () => void): void;
};
type HttpResponse = { statusCode?: number; on(event: string, listener: (chunk?: unknown) => void): void };

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

const notFound = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
};

/**
 * Whether the package `name` is missing, after importing it failed with "not found": its own missing
 * file or dependency fails with that code too, and only the message (wording that varies by runtime and
 * loader) names what was missing. Importing its package.json runs none of its code: it fails with that
 * code only when the package itself is not there (an ES module stops at the missing JSON attribute, a
 * package that exports no package.json at that refusal: both show the package is installed).
 * Not `import.meta.resolve`: this file is compiled to CommonJS too, where `import.meta` does not parse.
 */
async function isMissing(name: string): Promise<boolean> {
  const manifest = `${name}/package.json`; // whole, so that bundlers do not gather every package.json around
  try {
    await import(manifest);
    return false;
  } catch (error) {
    return notFound(error);
  }
}

/**
 * The `ws` package, or undefined when it is not installed. Installed but broken (a failing import, a
 * module without its WebSocket class), it is an error that says so and why: falling back quietly to
 * another WebSocket would move the credentials into the URL, or end in a misleading "install ws".
 */
async function loadWs(): Promise<WsModule | undefined> {
  const name = 'ws'; // a variable, so that browser bundlers leave this optional import alone
  let module: WsModule;
  try {
    module = (await import(name)) as WsModule;
  } catch (error) {
    if (notFound(error) && (await isMissing(name))) return undefined;
    throw new Error(`the "ws" package is installed but could not be loaded: ${(error as Error)?.message ?? String(error)} (reinstall it: npm install ws; or pass a transport)`, { cause: error });
  }
  if (typeof module.default !== 'function') throw new Error('the "ws" package loaded, but has no WebSocket class as its default export: is it ws 8? (npm install ws@8)');
  return module;
}

/** The `ws` package: headers for credentials, and the HTTP status of a refused handshake. */
async function wsTransport(): Promise<Transport | undefined> {
  const module = await loadWs();
  if (!module) return undefined;
  return {
    headers: true,
    open(url, headers, onRefused, liveness) {
      const socket = new module.default(url, { headers, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
      if (liveness) watch(socket, liveness);
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

/**
 * The server pings every connection at a fixed interval: without a ping (or a frame) for longer than
 * that, the connection is dead (a partition, a frozen proxy), though TCP may not say so for minutes.
 */
function watch(socket: WsSocket, { timeoutMs, onStale }: Liveness): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expire = (): void => {
    onStale();
    socket.terminate();
  };
  const restart = (): void => {
    clearTimeout(timer);
    timer = setTimeout(expire, timeoutMs);
  };
  socket.on('open', restart);
  socket.on('ping', restart);
  socket.on('message', restart);
  socket.on('close', () => clearTimeout(timer));
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
