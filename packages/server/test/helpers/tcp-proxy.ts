import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that a test controls, to make a broker "disappear" without touching the real server:
 * `cut()` destroys every connection and refuses new ones (the client sees a reset, as when a broker
 * dies); `freeze()` keeps every connection open and new ones accepted but forwards nothing (a network
 * that silently drops packets: the client sees nothing at all); `restore()` forwards again (connections
 * frozen meanwhile are destroyed). The listening port never changes, so clients reconnect to it.
 */
export interface TcpProxy {
  /** The port clients connect to (on 127.0.0.1). */
  readonly port: number;
  /** Connections forwarded since the start (reconnects count too). */
  readonly connections: number;
  readonly isCut: boolean;
  cut(): void;
  freeze(): void;
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port that forwards to `target`. */
export async function startTcpProxy(target: { host?: string; port: number }, listenPort = 0): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let cut = false;
  let frozen = false;
  let connections = 0;
  const pairs = new Map<Socket, Socket>();

  const track = (socket: Socket): void => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    // A reset peer is the point of the exercise: never let it become an uncaught error.
    socket.on('error', () => socket.destroy());
  };

  const server: Server = createServer((client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    // Accepted, never answered.
    if (frozen) return;
    connections++;
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
    track(upstream);
    pairs.set(client, upstream);
    client.once('close', () => pairs.delete(client));
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listenPort;

  return {
    port,
    get connections() {
      return connections;
    },
    get isCut() {
      return cut;
    },
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    freeze() {
      frozen = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    restore() {
      if (frozen) for (const socket of open) socket.destroy();
      cut = false;
      frozen = false;
    },
    async close() {
      cut = true;
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
