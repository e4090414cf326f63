import { eventName } from '../../core/event-names.ts';
import type { AppContext } from '../../app-context.ts';
import type { DeliveryRecord } from '../../store/types.ts';
import { age } from '../format.ts';
import { html, type Html } from '../html.ts';

/** Dead letters listed per destination (the oldest first); the replay of "all" takes every one. */
const PER_DESTINATION = 20;

/** A replay button: one event (`eventId`) or every dead letter of the destination. */
const replayButton = (destination: string, label: string, eventId?: string): Html => html`<form class="inline" hx-post="/manager/dead-letters/replay" hx-target="#dead-letters">
  <input type="hidden" name="destination" value="${destination}">
  ${eventId ? html`<input type="hidden" name="eventId" value="${eventId}">` : ''}
  <button type="submit">${label}</button>
</form>`;

/**
 * A destination whose dead letters are listed; `replayable` when the dispatcher runs it, else `hint` says
 * how its events go again (a realtime subscriber's client resumes; a disabled webhook is enabled first).
 */
interface Listed {
  readonly id: string;
  readonly channel: string;
  readonly instance: string;
  readonly replayable: boolean;
  readonly hint?: string;
}

/** A realtime client gets an event again by resuming from before it (docs/realtime-protocol.md). */
const RESUME_HINT = 'the client gets it again by reconnecting with last_event_id before it';
/** A disabled webhook is sent nothing, a replay neither; enabling it after its failures replays them (docs/webhooks.md). */
const DISABLED_HINT = 'disabled: enable it to replay (POST /webhook/enable replays those of its failing streak)';

function row(destination: Listed, record: DeliveryRecord): Html {
  const last = record.attempts.at(-1);
  const reason = last?.error ?? (last?.statusCode ? `HTTP ${last.statusCode}` : '');
  return html`<tr data-dead-letter="${record.eventId}">
  <td>${destination.instance}</td>
  <td>${destination.channel}</td>
  <td>${eventName(record.event).dotted}</td>
  <td><code>${record.eventId}</code></td>
  <td>${last ? `${age(last.at)} ago` : '—'}</td>
  <td class="num">${record.attempts.length}</td>
  <td class="error">${reason}</td>
  <td>${destination.replayable ? replayButton(record.destination, 'Replay', record.eventId) : ''}</td>
</tr>`;
}

/**
 * Every destination that may have dead letters: the dispatcher's (cluster mode: those other nodes run
 * too, their records are in the shared database), its disabled ones, then the channels' durable subscribers (realtime).
 */
async function destinations(context: AppContext): Promise<Listed[]> {
  const { dispatcher, channels } = context;
  const listed: Listed[] = dispatcher
    .specs()
    .map((spec) => ({ id: spec.id, channel: spec.channel, instance: dispatcher.instanceLabel(spec.instanceId), replayable: true }));
  for (const disabled of dispatcher.disabledDestinations()) {
    listed.push({ id: disabled.id, channel: disabled.channel, instance: dispatcher.instanceLabel(disabled.instanceId), replayable: false, hint: DISABLED_HINT });
  }
  for (const channel of channels.all()) {
    for (const subscriber of (await channel.subscribers?.()) ?? []) {
      listed.push({ id: subscriber.id, channel: channel.name, instance: dispatcher.instanceLabel(subscriber.instanceId), replayable: false, hint: RESUME_HINT });
    }
  }
  return listed;
}

/**
 * The dead letters of every destination, each with a replay button (the dispatcher's replay, as
 * `POST /webhook/replay`) where the dispatcher runs it; a realtime subscriber's client resumes instead,
 * and a disabled webhook is enabled first.
 */
export async function deadLettersFragment(context: AppContext, notice?: string): Promise<Html> {
  const listed = await destinations(context);
  // One read for every destination (the page asks every 3 s), then grouped by destination.
  const byDestination = new Map<string, DeliveryRecord[]>();
  for (const record of await context.store.failedDeliveries(listed.map(({ id }) => id), PER_DESTINATION)) {
    const records = byDestination.get(record.destination);
    if (records) records.push(record);
    else byDestination.set(record.destination, [record]);
  }
  const sections: Html[] = [];
  for (const destination of listed) {
    const records = byDestination.get(destination.id) ?? [];
    if (!records.length) continue;
    const action = destination.replayable ? replayButton(destination.id, 'Replay all') : html`<small>${destination.hint ?? ''}</small>`;
    sections.push(html`<tbody data-destination="${destination.id}">
  <tr><th colspan="7"><code>${destination.id}</code>${records.length === PER_DESTINATION ? ` (the first ${PER_DESTINATION})` : ''}</th><th>${action}</th></tr>
  ${records.map((record) => row(destination, record))}
</tbody>`);
  }
  const shown = notice ? html`<p class="notice" role="status">${notice}</p>` : '';
  if (!sections.length) return html`${shown}<p class="empty">No dead letters.</p>`;
  return html`${shown}<table>
  <thead><tr><th>instance</th><th>channel</th><th>event</th><th>id</th><th>failed</th><th>attempts</th><th>reason</th><th></th></tr></thead>
  ${sections}
</table>`;
}
