import type { AppContext } from '../../app-context.ts';
import { age, percent } from '../format.ts';
import { html, type Html } from '../html.ts';

/**
 * Every dispatcher destination with how it keeps up: lag (log head − cursor), the age of the oldest
 * event it still has to deliver, deliveries in flight and waiting for a retry, the share of
 * attempts that succeeded since the start, and its circuit state.
 */
export function destinationsFragment(context: AppContext): Html {
  const { dispatcher } = context;
  const head = dispatcher.headPosition;
  const statuses = dispatcher
    .statuses()
    .map((status) => ({ ...status, instance: dispatcher.instanceLabel(status.instanceId) }))
    .sort((a, b) => a.instance.localeCompare(b.instance) || a.channel.localeCompare(b.channel) || a.id.localeCompare(b.id));
  if (!statuses.length) return html`<p class="empty">No destination: configure a webhook, a broker or a realtime subscriber.</p>`;
  const rows = statuses.map((status) => {
    const attempts = status.delivered + status.retried + status.failed;
    const oldest = dispatcher.oldestPendingAt(status.id);
    return html`<tr data-destination="${status.id}">
  <td>${status.instance}</td>
  <td>${status.channel}</td>
  <td><code class="muted">${status.id}</code></td>
  <td class="state-${status.state}">${status.state}</td>
  <td class="num" data-field="lag">${Math.max(0, head - status.cursor)}</td>
  <td class="num" data-field="oldest">${oldest ? age(oldest) : '—'}</td>
  <td class="num" data-field="in-flight">${status.inFlight}</td>
  <td class="num" data-field="retrying">${status.retrying}</td>
  <td class="num" data-field="success">${percent(status.delivered, attempts)}</td>
  <td class="num" data-field="delivered">${status.delivered}</td>
  <td class="num" data-field="dead">${status.failed}</td>
  <td class="error">${status.lastError ?? ''}</td>
</tr>`;
  });
  return html`<table>
  <thead><tr><th>instance</th><th>channel</th><th>destination</th><th>circuit</th><th>lag</th><th>oldest pending</th><th>in flight</th><th>retrying</th><th>success</th><th>delivered</th><th>dead</th><th>last error</th></tr></thead>
  <tbody>${rows}</tbody>
</table>
<p class="muted">Log head: ${head}. Counts since the server started.</p>`;
}
