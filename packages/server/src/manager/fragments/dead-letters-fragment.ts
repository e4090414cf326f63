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

function row(instance: string, channel: string, record: DeliveryRecord): Html {
  const last = record.attempts.at(-1);
  const reason = last?.error ?? (last?.statusCode ? `HTTP ${last.statusCode}` : '');
  return html`<tr data-dead-letter="${record.eventId}">
  <td>${instance}</td>
  <td>${channel}</td>
  <td>${eventName(record.event).dotted}</td>
  <td><code>${record.eventId}</code></td>
  <td>${last ? `${age(last.at)} ago` : '—'}</td>
  <td class="num">${record.attempts.length}</td>
  <td class="error">${reason}</td>
  <td>${replayButton(record.destination, 'Replay', record.eventId)}</td>
</tr>`;
}

/** The dead letters of every destination, each with a replay button (the dispatcher's replay, as `POST /webhook/replay`). */
export async function deadLettersFragment(context: AppContext, notice?: string): Promise<Html> {
  const { dispatcher, store } = context;
  const sections: Html[] = [];
  // Cluster mode: those of destinations other nodes run too (the records are in the shared database).
  for (const spec of dispatcher.specs()) {
    const records = await store.listDeliveries({ destination: spec.id, status: 'failed', limit: PER_DESTINATION });
    if (!records.length) continue;
    const instance = dispatcher.instanceLabel(spec.instanceId);
    sections.push(html`<tbody data-destination="${spec.id}">
  <tr><th colspan="7"><code>${spec.id}</code>${records.length === PER_DESTINATION ? ` (the first ${PER_DESTINATION})` : ''}</th><th>${replayButton(spec.id, 'Replay all')}</th></tr>
  ${records.map((record) => row(instance, spec.channel, record))}
</tbody>`);
  }
  const shown = notice ? html`<p class="notice" role="status">${notice}</p>` : '';
  if (!sections.length) return html`${shown}<p class="empty">No dead letters.</p>`;
  return html`${shown}<table>
  <thead><tr><th>instance</th><th>channel</th><th>event</th><th>id</th><th>failed</th><th>attempts</th><th>reason</th><th></th></tr></thead>
  ${sections}
</table>`;
}
