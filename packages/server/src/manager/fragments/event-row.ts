import { eventName } from '../../core/event-names.ts';
import type { StoredEvent } from '../../store/types.ts';
import { html, type Html } from '../html.ts';

/** Characters of an event's data shown in the live stream. */
const PREVIEW = 200;

/** One row of the live event stream; the data is shown as (escaped) JSON text, cut to PREVIEW characters. */
export function eventRow(event: StoredEvent): Html {
  const data = event.dataJson.length > PREVIEW ? `${event.dataJson.slice(0, PREVIEW)}…` : event.dataJson;
  return html`<tr data-event-id="${event.id}"><td title="${event.createdAt}">${event.createdAt.slice(11, 23)}</td><td>${event.instance}</td><td>${eventName(event.event).dotted}</td><td><code>${event.id}</code></td><td class="data">${data}</td></tr>`;
}
