import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** The manager's browser files (assets/README.md says where the vendored ones come from). */
const ASSETS: Record<string, string> = {
  'htmx-2.0.11.min.js': 'text/javascript; charset=utf-8',
  'htmx-ext-sse-2.2.4.min.js': 'text/javascript; charset=utf-8',
  'manager.js': 'text/javascript; charset=utf-8',
  'manager.css': 'text/css; charset=utf-8',
};

export const HTMX = '/manager/assets/htmx-2.0.11.min.js';
export const HTMX_SSE = '/manager/assets/htmx-ext-sse-2.2.4.min.js';

/** Serves the assets from memory (read once at boot), without a session: they hold nothing secret. */
export function managerAssets(app: FastifyInstance): void {
  const files = new Map(
    Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(new URL(`./assets/${name}`, import.meta.url)) }]),
  );
  app.get<{ Params: { name: string } }>('/manager/assets/:name', async (request, reply) => {
    const file = files.get(request.params.name);
    if (!file) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    // Own files may change with an upgrade; vendored ones carry their version in their name.
    const cache = /-\d+\.\d+\.\d+\.min\.js$/.test(request.params.name) ? 'public, max-age=31536000, immutable' : 'no-cache';
    return reply.type(file.type).header('cache-control', cache).header('x-content-type-options', 'nosniff').send(file.body);
  });
}
