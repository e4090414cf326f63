import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.ts';
import { WEBHOOK_ADDRESSES } from '../channels/webhook/webhook-config.ts';
import { listeningPort, OutboundAddressPolicy } from '../net/outbound-address-policy.ts';
import { policyAgent } from '../net/undici-policy-agent.ts';
import { endpointOf } from '../channels/webhook/webhook-target.ts';
import { ConfigError } from '../config/index.ts';

/** Error reports on their way at once; past this, further errors are dropped (and counted in the log) until some finish. */
const MAX_IN_FLIGHT = 16;
/** An error report gets this long; it is sent once, never retried (as Evolution API does). */
const TIMEOUT_MS = 5000;

interface ErrorBody {
  status?: number;
  error?: string;
  code?: string;
  response?: { message?: unknown };
}

/** Our error answer, read back from the text sent (every error Pombo answers has this shape). */
function parsed(payload: unknown): ErrorBody {
  if (typeof payload !== 'string') return {};
  try {
    const value = JSON.parse(payload) as unknown;
    return value !== null && typeof value === 'object' ? (value as ErrorBody) : {};
  } catch {
    return {};
  }
}

/**
 * Evolution API's error webhook (`WEBHOOK_EVENTS_ERRORS` + `WEBHOOK_EVENTS_ERRORS_WEBHOOK`): every
 * error answer of the HTTP API is posted, once, to the configured URL, in Evolution's shape
 * `{event: "error", data: {error, message, status, response}, date_time, api_key, server_url}`.
 * Unlike Evolution it never carries a secret: `api_key` is null (Evolution sent the global key), and
 * neither the request's body, its query string nor its headers are included, only its method and path.
 * The URL follows the webhooks' address policy (WEBHOOK_ALLOW_PRIVATE_NETWORKS, never Pombo itself):
 * a literal address it refuses stops the boot, a name resolving to one is refused when posting.
 */
export function reportErrors(app: FastifyInstance, context: AppContext): void {
  const url = context.config.webhook.errorsUrl;
  if (!url) return;
  const policy = new OutboundAddressPolicy({
    allowPrivateNetworks: context.config.webhook.allowPrivateNetworks,
    ...WEBHOOK_ADDRESSES,
    serverUrl: context.config.server.url,
    listenPort: () => listeningPort(app.server),
  });
  const refusal = policy.urlRefusal(new URL(url));
  if (refusal) throw new ConfigError([`WEBHOOK_EVENTS_ERRORS_WEBHOOK is refused: ${refusal} (see WEBHOOK_ALLOW_PRIVATE_NETWORKS)`]);
  const agent = policyAgent(policy, TIMEOUT_MS);
  let inFlight = 0;
  let dropped = 0;

  const post = (body: string) => {
    inFlight += 1;
    agent
      .request({ ...endpointOf(url), method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'Pombo-Errors/0.1' }, body })
      .then((response) => response.body.dump())
      .catch((error: unknown) => context.log.warn({ err: { message: (error as Error).message } }, 'the error webhook could not be reached'))
      .finally(() => {
        inFlight -= 1;
      });
  };

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode < 400) return payload;
    if (inFlight >= MAX_IN_FLIGHT) {
      if (dropped++ % 100 === 0) context.log.warn({ dropped }, 'error webhook busy: error reports dropped');
      return payload;
    }
    const answer = parsed(payload);
    const messages = Array.isArray(answer.response?.message) ? answer.response.message.map(String) : [];
    post(
      JSON.stringify({
        event: 'error',
        data: {
          error: answer.error ?? 'Error',
          message: messages[0] ?? answer.error ?? 'Error',
          status: reply.statusCode,
          response: { message: messages },
          code: answer.code ?? null,
          method: request.method,
          path: request.url.split('?')[0] ?? '',
        },
        date_time: new Date().toISOString(),
        api_key: null,
        server_url: context.config.server.url,
      }),
    );
    return payload;
  });
  app.addHook('onClose', async () => {
    await agent.close();
  });
}
