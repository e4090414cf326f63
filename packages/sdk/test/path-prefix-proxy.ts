import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A reverse proxy that serves Pombo under a path prefix (`/pombo/instance/create` → `/instance/create`),
 * HTTP requests and WebSocket upgrades alike, as nginx's `location /pombo/ { proxy_pass …/; }` does.
 * Anything outside the prefix is a 404: a client that drops the prefix is seen failing.
 */
export interface PathPrefixProxy {
  /** The proxy's URL with the prefix, without a trailing slash (`http://127.0.0.1:1234/pombo`). */
  readonly url: string;
  /** The paths that were outside the prefix, as the client sent them. */
  readonly missed: string[];
  close(): Promise<void>;
}

/**
 * `gatewayKey`: a query parameter (`name=value`) every request must carry, as an API gateway's key
 * (Azure's `?code=`, `?subscription-key=`); it is taken off before forwarding.
 */
export async function startPathPrefixProxy(target: string, prefix = '/pombo', gatewayKey?: string): Promise<PathPrefixProxy> {
  const upstream = new URL(target);
  const missed: string[] = [];
  const strip = (request: IncomingMessage): string | undefined => {
    const path = request.url ?? '/';
    const [name = '', value] = gatewayKey?.split('=') ?? [];
    const url = new URL(path, 'http://proxy');
    if (path.startsWith(`${prefix}/`) && (!gatewayKey || url.searchParams.get(name) === value)) {
      url.searchParams.delete(name);
      return `${url.pathname.slice(prefix.length)}${url.search}`;
    }
    missed.push(path);
    return undefined;
  };
  const server = createServer((request, response) => {
    const path = strip(request);
    if (path === undefined) return void response.writeHead(404).end('outside the prefix');
    const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: request.method, path, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  server.on('upgrade', (request, socket, head) => {
    const path = strip(request);
    if (path === undefined) return void socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
    const headers = Object.entries(request.headers).map(([name, value]) => `${name}: ${String(value)}`);
    const server = connect(Number(upstream.port), upstream.hostname, () => {
      server.write(`${request.method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      server.write(head);
      socket.pipe(server).pipe(socket);
    });
    server.on('error', () => socket.destroy());
    socket.on('error', () => server.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`,
    missed,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
