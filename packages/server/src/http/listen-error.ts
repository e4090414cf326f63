/** What to say when the HTTP server cannot listen: the variable to change, its value, and what to do. */

/** `SERVER_HOST` and `SERVER_PORT` as the configuration has them. */
export interface ListenTarget {
  host: string;
  port: number;
}

/**
 * The problem, in the words of a configuration error, when `error` is one an operator fixes by
 * changing SERVER_PORT or SERVER_HOST (a port taken or privileged, an address this machine does not
 * have, a name that does not resolve); undefined for any other error.
 */
export function listenProblem(error: unknown, { host, port }: ListenTarget): string | undefined {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return `SERVER_PORT=${port}: the port is already in use on ${host} (another Pombo, or another program, listens on it): stop it, or choose another SERVER_PORT`;
    case 'EACCES':
      return `SERVER_PORT=${port}: the user Pombo runs as may not listen on ${host}:${port} (ports below 1024 need privileges): choose a port of 1024 or more, or grant node CAP_NET_BIND_SERVICE`;
    case 'EADDRNOTAVAIL':
      return `SERVER_HOST=${host}: no network interface of this machine has that address: use one of its addresses, 0.0.0.0 for all of them, or 127.0.0.1 for local clients only`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `SERVER_HOST=${host}: neither an IP address nor a host name that resolves: use one of this machine's addresses, 0.0.0.0 for all of them, or 127.0.0.1 for local clients only`;
    default:
      return undefined;
  }
}
