import { realtimeUrl } from '../base-url.ts';
import { type CallOptions, type Http, segment } from '../rest/http.ts';
import type { Envelope } from './event.ts';
import { checkSubscribeRequest } from './subscribe-request-check.ts';
import { EventSubscription, type SubscribeRequest } from './subscription.ts';
import { defaultTransport, type Transport } from './transport.ts';

export interface PublishedEvent {
  id: string;
  seq: number;
  event: string;
  duplicate: boolean;
}

export interface EventInput {
  /** Any form of an event name: `MESSAGES_UPSERT`, `messages.upsert`, `messages-upsert`. */
  event: string;
  data: unknown;
  /** Your id for the event: sending it again does not append a second event. */
  id?: string;
}

/** Realtime subscriptions, and the event log's HTTP routes (ingest and paged reading). */
export class EventsApi {
  private transport: Promise<Transport> | undefined;

  constructor(
    private readonly http: Http,
    private readonly baseUrl: string,
    private readonly apiKey: string | undefined,
    transport?: Transport,
  ) {
    if (transport) this.transport = Promise.resolve(transport);
  }

  /** Subscribes to an instance's events; resolves once connected (rejects when refused or unreachable, or with a `PomboOptionError` for a wrong option). */
  async subscribe(request: SubscribeRequest, { signal = request.signal }: { signal?: AbortSignal } = {}): Promise<EventSubscription> {
    checkSubscribeRequest(request);
    this.transport ??= defaultTransport();
    const subscription = new EventSubscription(request, { realtimeUrl: realtimeUrl(this.baseUrl), apiKey: this.apiKey, transport: await this.transport }, signal);
    return subscription.ready();
  }

  /** `POST /events/:instanceName`: appends events from an external producer. */
  publish(instanceName: string, events: EventInput[], call?: CallOptions): Promise<{ appended: number; duplicates: number; events: PublishedEvent[] }> {
    return this.http.request('POST', `/events/${segment(instanceName)}`, { events }, call);
  }

  /** `GET /events/:instanceName`: one page of the retained log, after an event id. */
  list(instanceName: string, options: { after?: string; limit?: number; events?: string[] } = {}, call?: CallOptions): Promise<{ events: Array<Envelope & { seq: number }>; next: string | null }> {
    const query = new URLSearchParams();
    if (options.after) query.set('after', options.after);
    if (options.limit) query.set('limit', String(options.limit));
    if (options.events?.length) query.set('events', options.events.join(','));
    const search = query.toString();
    return this.http.request('GET', `/events/${segment(instanceName)}${search ? `?${search}` : ''}`, undefined, call);
  }
}
