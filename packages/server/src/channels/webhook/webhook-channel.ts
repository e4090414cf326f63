import type { Server } from 'node:http';
import { ConfigError } from '../../config/index.ts';
import { EVENT_KEYS, type EventKey } from '../../core/event-names.ts';
import { envelopeJson, envelopeOf } from '../../core/envelope.ts';
import { filterPredicate } from '../../core/payload-filter.ts';
import type { DestinationSpec, Ordering, SendContext } from '../../delivery/destination.ts';
import type { DestinationReport, DisabledDestination } from '../../delivery/dispatcher.ts';
import type { Outcome } from '../../delivery/outcome.ts';
import { backoff } from '../../delivery/retry-policy.ts';
import type { AppContext } from '../../app-context.ts';
import type { Obj } from '../../core/validate.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';
import type { ChannelModule } from '../channel.ts';
import { defaultOf, endpointsOf, WebhookBook } from './webhook-book.ts';
import {
  checkedWebhookSettings,
  enabledWebhook,
  endpointWebhook,
  GLOBAL_WEBHOOK,
  instanceWebhook,
  maskedSettings,
  WEBHOOK_ADDRESSES,
  WEBHOOK_CONFIG_SCHEMA,
  type WebhookRules,
  type WebhookSettings,
} from './webhook-config.ts';
import { listeningPort, OutboundAddressPolicy } from '../../net/outbound-address-policy.ts';
import { FailureStreaks } from './webhook-auto-disable.ts';
import { disableFailing, webhookEnableRoute } from './webhook-disable.ts';
import { webhookEndpointRoutes } from './webhook-endpoint-routes.ts';
import { eventHeaders } from './webhook-event-headers.ts';
import { withBase64 } from './webhook-media.ts';
import { replacingWebhook, storedWhilePaused } from './webhook-pause.ts';
import { webhookRoutes } from './webhook-routes.ts';
import { secretRotationRoute } from './webhook-secret-rotation.ts';
import { WebhookSender } from './webhook-sender.ts';
import { previousKeysOf } from './webhook-previous-secrets.ts';
import { secretKey } from './webhook-signature.ts';
import { WebhookTarget } from './webhook-target.ts';

/** A filter that lets every event through is no filter: the log is then read without an `IN (…)` list. */
const filterOf = (events: Iterable<EventKey> | undefined): ReadonlySet<EventKey> | null => {
  if (!events) return null;
  const set = new Set(events);
  return EVENT_KEYS.every((key) => set.has(key)) ? null : set;
};

/**
 * The webhook channel (seed 001, section 1): the global webhook from the environment and one per
 * instance, each a destination of its own with durable retries, dead letters, a delivery log and
 * a circuit breaker; requests signed with Standard Webhooks when a secret is set.
 */
export async function webhookChannel(context: AppContext): Promise<ChannelModule> {
  const settings = context.config.webhook;
  const retry = backoff({
    maxAttempts: settings.retryMaxAttempts,
    initialDelayMs: settings.retryInitialDelaySeconds * 1000,
    maxDelayMs: settings.retryMaxDelaySeconds * 1000,
    exponential: settings.retryUseExponentialBackoff,
    jitterFactor: settings.retryJitterFactor,
  });
  const circuit = {
    failureThreshold: settings.circuitFailureThreshold,
    cooldownMs: settings.circuitCooldownSeconds * 1000,
    maxCooldownMs: Math.max(settings.circuitCooldownSeconds, settings.circuitMaxCooldownSeconds) * 1000,
  };
  let server: Server | undefined;
  const policy = new OutboundAddressPolicy({
    allowPrivateNetworks: settings.allowPrivateNetworks,
    ...WEBHOOK_ADDRESSES,
    serverUrl: context.config.server.url,
    listenPort: () => listeningPort(server),
  });
  const rules: WebhookRules = { ...settings, urlRefusal: (url) => policy.urlRefusal(url), resolvedUrlRefusal: (url) => policy.resolvedUrlRefusal(url) };
  const global =
    settings.globalEnabled && settings.globalUrl
      ? new WebhookTarget({
          url: settings.globalUrl,
          byEvents: settings.globalByEvents,
          headers: {},
          key: settings.globalSecretKey,
          base64: settings.globalBase64,
        })
      : undefined;
  // The operator's global webhook follows the same policy: a literal address it refuses, or a name that
  // resolves to one, stops the boot (a name that does not resolve yet is checked by each delivery).
  const globalUrl = settings.globalEnabled && settings.globalUrl ? new URL(settings.globalUrl) : undefined;
  const globalRefusal = globalUrl && (policy.urlRefusal(globalUrl) ?? (await policy.resolvedUrlRefusal(globalUrl)));
  if (globalRefusal) throw new ConfigError([`WEBHOOK_GLOBAL_URL is refused: ${globalRefusal} (see WEBHOOK_ALLOW_PRIVATE_NETWORKS)`]);
  const sender = new WebhookSender({ timeoutMs: settings.requestTimeoutMs, nonRetryable: settings.nonRetryableStatusCodes, policy });

  async function deliver(target: WebhookTarget, event: StoredEvent, sending?: SendContext): Promise<Outcome> {
    const body = target.base64
      ? JSON.stringify(await withBase64(envelopeOf(event, context.envelope, target.url), context.sandbox.media))
      : envelopeJson(event, context.envelope, target.url);
    // One object per request: the target's headers are copied onto Evolution's (a configured one of the same name wins).
    return sender.post(target.endpoint(event.event), Object.assign(eventHeaders(event), target.headersFor(event.id, body)), body, sending?.mayStart);
  }

  const spec = (id: string, instanceId: string | null, events: ReadonlySet<EventKey> | null, target: WebhookTarget, ordering: Ordering, maxInFlight: number): DestinationSpec => ({
    id,
    channel: 'webhook',
    instanceId,
    events,
    ordering,
    maxInFlight,
    maxBatch: 1,
    retry,
    // Every delivery's record (the delivery log), unless WEBHOOK_DELIVERY_LOG=failures: a delivered event's
    // record is about a tenth of a webhook's throughput (docs/benchmarks.md).
    record: settings.deliveryLog,
    startAt: 'now',
    circuit,
    // The delivery log is written every 20 ms: a fifth of the commits of the 5 ms default at high rates;
    // after a crash, only what was delivered in those last 20 ms may be sent again.
    saveDelayMs: 20,
    send: (batch, sending) => Promise.all(batch.map(({ event }) => deliver(target, event, sending))),
  });

  /**
   * The configuration as routes show it (secrets masked) with the delivery state of its destination
   * (cluster mode: wherever it runs, with the node that runs it). A disabled one shows what its ledger
   * keeps: its pending records as `retrying`, its dead letters as `failed`, and in `backlog` what it owes.
   */
  function view(shown: WebhookSettings, { status, backlog, node, asOf, disabled }: DestinationReport): Record<string, unknown> {
    return {
      ...maskedSettings(shown),
      maxInFlight: shown.maxInFlight ?? settings.maxInFlight,
      state: {
        health: status?.state ?? (node === undefined ? 'disabled' : 'healthy'),
        consecutiveFailures: status?.consecutiveFailures ?? 0,
        lastError: status?.lastError ?? null,
        lastDeliveredAt: status?.lastDeliveredAt ?? null,
        backlog,
        inFlight: status?.inFlight ?? 0,
        retrying: status?.retrying ?? disabled?.pending ?? 0,
        delivered: status?.delivered ?? 0,
        failed: status?.failed ?? disabled?.failed ?? 0,
        filtered: status?.filtered ?? 0,
        ...(node === undefined ? {} : { node }),
        ...(asOf === undefined ? {} : { asOf }),
      },
    };
  }

  const book = new WebhookBook(context.instances);
  const disableRules = { afterFailures: settings.disableAfterFailures, afterMs: settings.disableAfterHours * 3_600_000 };
  const streaks = new FailureStreaks(disableRules);

  /** The destination of one enabled webhook of an instance; its answers feed its failure streak. */
  function instanceSpec(id: string, instanceId: string, endpointId: string | null, webhook: WebhookSettings & { url: string }): DestinationSpec {
    streaks.resume(id, webhook.url);
    const target = new WebhookTarget({
      url: webhook.url,
      byEvents: webhook.byEvents,
      headers: webhook.headers,
      key: webhook.secret ? (secretKey(webhook.secret) as Buffer) : undefined,
      previous: previousKeysOf(webhook),
      base64: webhook.base64,
    });
    const base = spec(id, instanceId, filterOf(webhook.events), target, webhook.ordering, webhook.maxInFlight ?? settings.maxInFlight);
    const accepted = filterPredicate(webhook.filter);
    const skipped = storedWhilePaused(webhook);
    return {
      ...base,
      filter: skipped ? (event) => !skipped(event) && (accepted?.(event) ?? true) : accepted,
      send: async (batch, sending) => {
        const outcomes = await base.send(batch, sending);
        for (const outcome of outcomes) {
          // The streak starts when its first failing request started: its dead letter counts as of the streak.
          const tripped = streaks.record(id, outcome, outcome.attempt?.at ? Date.parse(outcome.attempt.at) : Date.now());
          // Not awaited: disabling stops this destination, which waits for this very send to end.
          if (tripped) void disableFailing(context, book, disableRules, { instanceId, endpointId }, tripped);
        }
        return outcomes;
      },
    };
  }

  return {
    name: 'webhook',
    configSchema: WEBHOOK_CONFIG_SCHEMA,
    parseConfig: (config: Obj, path: string, stored?: unknown) => checkedWebhookSettings(config, path, rules, stored as WebhookSettings | undefined),
    replacing: (previous, config, at) => replacingWebhook(previous as WebhookSettings | undefined, config as WebhookSettings, at),
    async describe(instance: Instance) {
      const shown = defaultOf(instance);
      // As Evolution API's `find`: no webhook was ever set, so there is none to show, and `if (webhook)` is false.
      if (!shown) return null;
      const { state, ...rest } = view(shown, await context.dispatcher.reportOf(instanceWebhook(instance.id)));
      return {
        instanceId: instance.id,
        ...rest,
        // Evolution API's names for the same fields (masked alike), for clients that read them from `find` or create's answer.
        webhookUrl: rest.url,
        webhookHeaders: rest.headers,
        webhookByEvents: shown.byEvents,
        webhookBase64: shown.base64,
        state,
      };
    },
    destinations(instance: Instance) {
      const specs: DestinationSpec[] = [];
      const webhook = enabledWebhook(instance);
      if (webhook?.url) specs.push(instanceSpec(instanceWebhook(instance.id), instance.id, null, { ...webhook, url: webhook.url }));
      for (const endpoint of endpointsOf(instance)) {
        if (endpoint.enabled && endpoint.url) specs.push(instanceSpec(endpointWebhook(instance.id, endpoint.id), instance.id, endpoint.id, { ...endpoint, url: endpoint.url }));
      }
      return specs;
    },
    disabledDestinations(instance: Instance) {
      // Disabled with a URL (by the user, or after failing): a cursor may wait in the store for it being enabled again.
      const disabled: DisabledDestination[] = [];
      const webhook = defaultOf(instance);
      if (webhook?.url && !webhook.enabled) disabled.push({ id: instanceWebhook(instance.id), channel: 'webhook', instanceId: instance.id });
      for (const endpoint of endpointsOf(instance)) {
        if (!endpoint.enabled && endpoint.url) disabled.push({ id: endpointWebhook(instance.id, endpoint.id), channel: 'webhook', instanceId: instance.id });
      }
      return disabled;
    },
    globalDestinations() {
      return global ? [spec(GLOBAL_WEBHOOK, null, filterOf(settings.globalEvents), global, 'none', settings.maxInFlight)] : [];
    },
    routes(app) {
      server = app.server;
      webhookRoutes(app, context);
      webhookEndpointRoutes(app, context, { book, view, rules, maxEndpoints: settings.maxEndpointsPerInstance });
      secretRotationRoute(app, context, book, settings.secretRotationOverlapSeconds);
      webhookEnableRoute(app, context, book);
    },
    async released(instance) {
      streaks.forgetAll(instanceWebhook(instance.id));
    },
    stop: () => sender.close(),
  };
}
