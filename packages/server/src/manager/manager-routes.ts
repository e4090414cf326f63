import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { deadLetters, eventsByIds, MAX_REPLAY } from '../delivery/dead-letters.ts';
import type { AppContext } from '../app-context.ts';
import { streamEvents } from './event-stream.ts';
import { clientsFragment } from './fragments/clients-fragment.ts';
import { deadLettersFragment } from './fragments/dead-letters-fragment.ts';
import { destinationsFragment } from './fragments/destinations-fragment.ts';
import { instancesFragment } from './fragments/instances-fragment.ts';
import type { Html } from './html.ts';
import { managerAssets } from './manager-assets.ts';
import { ManagerSessions } from './manager-sessions.ts';
import { dashboardPage } from './pages/dashboard-page.ts';
import { loginPage } from './pages/login-page.ts';

/** Every manager response: no script but the manager's own files, no framing, no caching. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'x-frame-options': 'DENY',
  // Not `no-referrer`: with it, browsers send `Origin: null` on POST, and the origin check needs the origin.
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'];

/** Routes reachable without a session. */
const PUBLIC = new Set(['/manager/login', '/manager/']);

type Form = Record<string, unknown>;

/** A field of a posted form as text; anything else (a JSON body's object, number or list) is no value. */
const formField = (body: Form | undefined, name: string): string | undefined => {
  const value = body?.[name];
  return typeof value === 'string' ? value : undefined;
};

/**
 * POSTs must come from a page of this server: the cookie is SameSite=Strict already, and the
 * `Origin` (or, without it, the `Referer`) must name the host the request was sent to.
 */
function sameOrigin(request: FastifyRequest): boolean {
  const source = request.headers.origin ?? request.headers.referer;
  if (!source || source === 'null') return false;
  try {
    return new URL(source).host === request.headers.host;
  } catch {
    return false;
  }
}

const send = (reply: FastifyReply, page: Html, status = 200): FastifyReply =>
  reply.code(status).type('text/html; charset=utf-8').send(page.text);

/** The manager at `/manager`: a session from the global API key, then the dashboard and its fragments. */
export function managerRoutes(app: FastifyInstance, context: AppContext): void {
  const sessions = new ManagerSessions(context.config.server.url.startsWith('https://'));
  managerAssets(app);

  void app.register(async (manager) => {
    manager.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    manager.addHook('onRequest', async (request, reply) => {
      reply.headers(SECURITY_HEADERS);
      // The API's CORS (CORS_ORIGIN) is for API clients: no other origin may read a manager page,
      // not even a same-site one (another port of the host), to which SameSite=Strict still sends the cookie.
      for (const name of CORS_HEADERS) reply.removeHeader(name);
      if (request.method === 'POST' && !sameOrigin(request)) {
        context.log.info({ path: request.url.split('?')[0], address: request.ip }, 'manager request refused: not from a manager page');
        return reply.code(403).type('text/plain; charset=utf-8').send('This form must be sent from a Pombo manager page of this server.');
      }
      if (PUBLIC.has(request.routeOptions.url ?? '') || sessions.of(request)) return undefined;
      if (request.method === 'GET' && !request.headers['hx-request'] && request.routeOptions.url === '/manager') {
        return reply.redirect('/manager/login', 303);
      }
      // htmx follows HX-Redirect: a fragment asked for after the session ended leads back to the login.
      return reply.code(401).header('hx-redirect', '/manager/login').type('text/plain; charset=utf-8').send('Log in at /manager/login');
    });

    manager.get('/manager', async (_request, reply) => send(reply, dashboardPage()));
    manager.get('/manager/', async (_request, reply) => reply.redirect('/manager', 303));
    manager.get('/manager/login', async (request, reply) => (sessions.of(request) ? reply.redirect('/manager', 303) : send(reply, loginPage())));

    manager.post<{ Body: Form }>('/manager/login', async (request, reply) => {
      if (context.auth.identify(formField(request.body, 'key'))?.kind !== 'global') {
        context.log.info({ path: '/manager/login', address: request.ip }, 'manager login refused');
        return send(reply, loginPage('This is not the global API key.'), 401);
      }
      sessions.start(reply);
      context.log.info({ address: request.ip }, 'manager login');
      return reply.redirect('/manager', 303);
    });

    manager.post('/manager/logout', async (request, reply) => {
      sessions.end(request, reply);
      return reply.redirect('/manager/login', 303);
    });

    manager.get('/manager/fragments/instances', async (_request, reply) => send(reply, instancesFragment(context)));
    manager.get('/manager/fragments/destinations', async (_request, reply) => send(reply, await destinationsFragment(context)));
    manager.get('/manager/fragments/clients', async (_request, reply) => send(reply, clientsFragment(context)));
    manager.get('/manager/fragments/dead-letters', async (_request, reply) => send(reply, await deadLettersFragment(context)));

    manager.post<{ Body: Form }>('/manager/dead-letters/replay', async (request, reply) => {
      const notice = await replay(context, formField(request.body, 'destination') ?? '', formField(request.body, 'eventId'));
      return send(reply, await deadLettersFragment(context, notice));
    });

    manager.get('/manager/events/stream', async (request, reply) => {
      const session = sessions.of(request) as string;
      await streamEvents(context, reply, () => sessions.alive(session));
    });
  });
}

/** Replays one dead letter or all of a destination's through the dispatcher; answers what it did. */
async function replay(context: AppContext, destination: string, eventId: string | undefined): Promise<string> {
  const { dispatcher, store } = context;
  if (dispatcher.isDisabled(destination)) return `${destination} is disabled: enable it first (POST /webhook/enable replays the dead letters of its failing streak).`;
  // Cluster mode: a destination another node runs is known here too; its replay goes to that node.
  const instanceId = dispatcher.instanceOf(destination);
  if (instanceId === undefined) return `There is no destination "${destination}" (any more).`;
  const events = eventId ? await eventsByIds(store, [eventId]) : (await deadLetters(store, destination)).slice(0, MAX_REPLAY);
  const own = events.filter((event) => instanceId === null || event.instanceId === instanceId);
  if (eventId && !own.length) return `The event ${eventId} is no longer retained.`;
  const replayed = await dispatcher.replay(destination, own);
  context.log.info({ destination, replayed }, 'manager replay');
  return `${replayed} event${replayed === 1 ? '' : 's'} sent again to ${destination}.`;
}
