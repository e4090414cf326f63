import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import Pusher from 'pusher';
import { eventName } from '../../core/event-names.ts';
import { withFields } from '../../core/envelope.ts';
import { referenceTo } from '../../core/event-reference.ts';
import { dead, delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import { mayWrite, WITHDRAWN, type BrokerDriver, type BrokerMessage, type BrokerTarget } from '../broker/broker-channel.ts';
import type { SendContext } from '../../delivery/destination.ts';
import { RequestState } from '../broker/request-state.ts';
import type { PusherApp, PusherSettings } from '../../config/pusher-settings.ts';
import { ADDRESS_REFUSED, type OutboundAddressPolicy } from '../../net/outbound-address-policy.ts';
import { policyAgents } from '../../net/node-policy-agents.ts';
import { redactText } from '../../ops/redact.ts';

/** Events per `triggerBatch` call (Pusher's limit). */
const BATCH_EVENTS = 10;

/** `evolution.{instanceName}`, the channel the seed's pusher-js example subscribes to. */
export const channelOf = (message: BrokerMessage): string => `evolution.${message.event.instance}`;

/** Characters of a failing answer kept to show in `find` (webhooks keep 256 bytes, webhook-answer.ts). */
const ANSWER_EXCERPT = 256;

/** What the `pusher` library rejects with: the status and body of an answer, or the error of a request that got none. */
type TriggerError = { status?: number; body?: string; error?: Error & { code?: string }; message?: string };

/** The outcome of a failed trigger call: dead when the address policy refused its host (no retry would reach it), else retried. */
function failed(reason: string, error: unknown, answer: string | undefined): Outcome {
  // The pusher library's fetch wraps the connection's error, keeping its code (not the class).
  if ((error as TriggerError).error?.code === ADDRESS_REFUSED) return dead(reason);
  return { ...retry(reason), ...(answer ? { answer } : {}) };
}

/**
 * Why a trigger failed, without the signed query of the request URL (its signature could be replayed):
 * the status alone for an answer (it is logged), and the answer's start, credentials masked, apart.
 */
function reasonOf(error: unknown): { reason: string; answered: boolean; answer?: string } {
  const { status, body, error: cause, message } = error as TriggerError;
  if (status !== undefined) return { reason: `Pusher answered ${status}`, answered: true, answer: redactText((body ?? '').slice(0, ANSWER_EXCERPT)) };
  const detail = (cause?.message ?? message ?? String(error)).replace(/(https?:\/\/[^\s?]+)\?\S*/g, '$1');
  return { reason: `Pusher request failed: ${detail}`, answered: false };
}

/** One client (and one request state) per set of credentials and host, in each scope. */
const keyOf = (app: PusherApp, scope: BrokerMessage['scope']): string =>
  [scope, app.appId, app.key, app.secret, app.cluster, app.useTLS, app.host, app.port].join('\n');

/**
 * Triggers on Pusher channels with `triggerBatch` (10 events per call, in order), with the global
 * app's credentials or the instance's own. One client per set of credentials, kept for reuse. An
 * instance's host goes through the outbound address policy (its agents resolve, check and connect
 * to the checked address); the global app's, set by the operator, does not.
 */
export class PusherDriver implements BrokerDriver {
  private readonly clients = new Map<string, Pusher>();
  /** The state of the last request, the driver's (every app's) and each app's (by clientFor's key): an instance sees its own app's only. */
  private readonly state = new RequestState();
  private readonly appStates = new Map<string, RequestState>();
  private readonly agents: Record<BrokerMessage['scope'], { http: HttpAgent; https: HttpsAgent }>;

  constructor(
    private readonly settings: PusherSettings,
    policy: OutboundAddressPolicy,
  ) {
    this.agents = {
      global: { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) },
      instance: policyAgents(policy, { keepAlive: true }),
    };
  }

  connection(config?: BrokerMessage['config']) {
    const app = config as PusherApp | undefined;
    // An app not tried yet has no state of its own: a fresh one (connecting), not kept.
    return (app ? (this.appStates.get(keyOf(app, 'instance')) ?? new RequestState()) : this.state).connection();
  }

  private stateOf(key: string): RequestState {
    let state = this.appStates.get(key);
    if (!state) this.appStates.set(key, (state = new RequestState()));
    return state;
  }

  private clientFor(app: PusherApp, scope: BrokerMessage['scope']): Pusher {
    const id = keyOf(app, scope);
    let client = this.clients.get(id);
    if (!client) {
      client = new Pusher({
        appId: app.appId,
        key: app.key,
        secret: app.secret,
        useTLS: app.useTLS,
        timeout: this.settings.requestTimeoutMs,
        agent: app.useTLS ? this.agents[scope].https : this.agents[scope].http,
        ...(app.host === undefined ? { cluster: app.cluster ?? '' } : { host: app.host, ...(app.port ? { port: String(app.port) } : {}) }),
      });
      this.clients.set(id, client);
    }
    return client;
  }

  /** The seed's event (UPPER_SNAKE name on `evolution.{instance}`), its data Evolution API's Pusher payload. */
  private eventOf(message: BrokerMessage, app: PusherApp): Pusher.BatchEvent {
    let data = withFields(message.body, { destination: app.appId });
    const size = Buffer.byteLength(data);
    if (size > this.settings.maxPayloadBytes) data = JSON.stringify(referenceTo(data, size));
    return { channel: channelOf(message), name: eventName(message.event.event).key, data };
  }

  async publish(batch: readonly BrokerMessage[], _destination?: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    const first = batch[0];
    const app = first?.scope === 'global' ? this.settings.globalApp : (first?.config as PusherApp | undefined);
    if (!first || !app) return batch.map(() => retry('no Pusher credentials for this destination'));
    const client = this.clientFor(app, first.scope);
    const appState = this.stateOf(keyOf(app, first.scope));
    const events = batch.map((message) => this.eventOf(message, app));
    const outcomes: Outcome[] = [];
    for (let start = 0; start < events.length; start += BATCH_EVENTS) {
      const part = events.slice(start, start + BATCH_EVENTS);
      // A call after another waited for it: the lease is asked again (the first was asked by the worker).
      if (start > 0 && !mayWrite(sending)) {
        while (outcomes.length < batch.length) outcomes.push(WITHDRAWN);
        break;
      }
      try {
        await client.triggerBatch(part);
        this.state.succeeded();
        appState.succeeded();
        outcomes.push(...part.map(() => delivered()));
      } catch (error) {
        const { reason, answered, answer } = reasonOf(error);
        // The answer stays with the instance's own outcome: the driver's state is every app's.
        this.state.failed(reason, answered);
        appState.failed(reason, answered);
        const outcome = failed(reason, error, answer);
        while (outcomes.length < batch.length) outcomes.push(outcome);
        break;
      }
    }
    return outcomes;
  }

  async close(): Promise<void> {
    for (const { http, https } of Object.values(this.agents)) {
      http.destroy();
      https.destroy();
    }
  }
}
