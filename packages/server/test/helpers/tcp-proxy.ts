import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy that a test controls, to make a server "disappear" without touching it. Two faults:
 * - `cut()` destroys every connection and refuses new ones: the client sees a reset at once, as when
 *   a broker dies;
 * - `freeze()` is a network partition (every packet dropped): connections stay open and new ones are
 *   accepted, but no byte and no close gets through either way; the client only learns of it by its
 *   own timeouts.
 * `restore()` forwards again; after a freeze it delivers what was held, as TCP retransmission does when
 * a partition heals, and the closes that happened meanwhile (a connection its client gave up on, or
 * that the server ended, is reset then). The listening port never changes, so clients reconnect to it.
 */
export interface TcpProxy {
  /** The port clients connect to (on 127.0.0.1). */
  readonly port: number;
  /** Connections forwarded since the start (reconnects count too). */
  readonly connections: number;
  /** Connections accepted while a freeze held them. */
  readonly held: number;
  readonly isCut: boolean;
  cut(): void;
  freeze(): void;
  restore(): void;
  close(): Promise<void>;
}

/** One client connection and its upstream (opened at once, or when a freeze ends). */
interface Link {
  readonly client: Socket;
  upstream?: Socket;
}

/** Starts a proxy on a free loopback port that forwards to `target`. */
export async function startTcpProxy(target: { host?: string; port: number }, listenPort = 0): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const links = new Set<Link>();
  let mode: 'forward' | 'cut' | 'frozen' = 'forward';
  /** Sockets to destroy when a freeze ends: their peer closed while it held everything. */
  const closesHeld = new Set<Socket>();
  let connections = 0;
  let held = 0;

  const track = (socket: Socket): void => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    // A reset peer is the point of the exercise: never let it become an uncaught error.
    socket.on('error', () => socket.destroy());
  };

  /** Forwards `from`'s bytes to `to`, with back-pressure; a paused `from` (frozen) is read no more. */
  const forward = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (to.destroyed) return;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => mode === 'frozen' || from.resume());
      }
    });
    from.once('close', () => (mode === 'frozen' ? closesHeld.add(to) : to.destroy()));
  };

  const openUpstream = (link: Link): void => {
    connections++;
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
    track(upstream);
    link.upstream = upstream;
    forward(link.client, upstream);
    forward(upstream, link.client);
  };

  const server: Server = createServer((client) => {
    track(client);
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const link: Link = { client };
    links.add(link);
    client.once('close', () => links.delete(link));
    if (mode === 'frozen') {
      // Accepted, never answered: the bytes the client sends wait in the socket until the freeze ends.
      held++;
      client.pause();
      return;
    }
    openUpstream(link);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listenPort;

  const destroyAll = (): void => {
    for (const socket of open) socket.destroy();
    closesHeld.clear();
  };

  return {
    port,
    get connections() {
      return connections;
    },
    get held() {
      return held;
    },
    get isCut() {
      return mode !== 'forward';
    },
    cut() {
      mode = 'cut';
      destroyAll();
    },
    freeze() {
      mode = 'frozen';
      for (const socket of open) socket.pause();
    },
    restore() {
      const wasFrozen = mode === 'frozen';
      mode = 'forward';
      if (!wasFrozen) return;
      for (const socket of closesHeld) socket.destroy();
      closesHeld.clear();
      for (const link of links) {
        if (link.client.destroyed) continue;
        if (!link.upstream) openUpstream(link);
        link.client.resume();
        link.upstream?.resume();
      }
    },
    async close() {
      mode = 'cut';
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
