/**
 * URLs under the client's `baseUrl`, keeping its path: behind a reverse proxy Pombo may live at
 * `https://host/pombo`, and `new URL('/instance/create', base)` would drop `/pombo`. A `ws(s)`
 * base serves REST over the matching `http(s)`, an `http(s)` base serves realtime over `ws(s)`.
 * The base's query (an API gateway's key: `?code=…`) is kept too, ahead of the route's own.
 */
function under(baseUrl: string, path: string, scheme: 'http' | 'ws'): URL {
  const base = new URL(baseUrl);
  base.protocol = base.protocol.replace(/^(http|ws)/, scheme);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const url = new URL(path.replace(/^\/+/, ''), base);
  const query = new URLSearchParams([...base.searchParams, ...url.searchParams]);
  url.search = query.toString();
  return url;
}

/** A REST route (`/instance/create`, with its query) under `baseUrl`. */
export const restUrl = (baseUrl: string, path: string): URL => under(baseUrl, path, 'http');

/** The realtime endpoint under `baseUrl`. */
export const realtimeUrl = (baseUrl: string): string => under(baseUrl, '/events/ws', 'ws').toString();
