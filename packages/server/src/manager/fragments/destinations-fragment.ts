import type { AppContext } from '../../app-context.ts';
import type { DestinationStatus } from '../../delivery/destination-worker.ts';
import { figuresKey, type DisabledDestination } from '../../delivery/dispatcher.ts';
import { age, percent } from '../format.ts';
import { html, type Html } from '../html.ts';

/**
 * A disabled destination (a disabled webhook): what it owes (its lag), its pending records (retrying)
 * and its dead letters, as its ledger keeps them; nothing runs, so nothing is in flight or delivered.
 */
function disabledRow(destination: DisabledDestination, instance: string, lag: number, retrying: number, dead: number, clustered: boolean): Html {
  return html`<tr data-destination="${destination.id}">
  <td>${instance}</td>
  <td>${destination.channel}</td>
  <td><code class="muted">${destination.id}</code></td>
  ${clustered ? html`<td data-field="node">none</td>` : html``}
  <td class="state-disabled">disabled</td>
  <td class="num" data-field="lag">${lag}</td>
  <td class="num" data-field="oldest">—</td>
  <td class="num" data-field="in-flight">0</td>
  <td class="num" data-field="retrying">${retrying}</td>
  <td class="num" data-field="success">—</td>
  <td class="num" data-field="delivered">—</td>
  <td class="num" data-field="dead">${dead}</td>
  <td class="error"></td>
</tr>`;
}

/**
 * Every dispatcher destination with how it keeps up: lag (the report's backlog: log head − cursor, plus
 * the pending retries behind the cursor), the age of the oldest event it still has to deliver,
 * deliveries in flight and retrying (not done, failed at least once), the share of
 * attempts that succeeded since the start, and its circuit state. In cluster mode, also those other
 * nodes run, with the node (their figures as their node published them at its last lease renewal).
 * A realtime feed is always caught up: its lag and retrying are its subscribers' on this node (the
 * largest backlog, the retries summed), as the gauges of /metrics count them.
 * Then the disabled ones (disabledRow): what they owe waits for them being enabled again.
 */
export async function destinationsFragment(context: AppContext): Promise<Html> {
  const { dispatcher } = context;
  const head = dispatcher.headPosition;
  const clustered = context.cluster !== undefined;
  const outside = dispatcher.outsideFigures();
  const reports = (await dispatcher.allReports())
    .filter((report): report is typeof report & { status: DestinationStatus } => report.status !== undefined)
    .map((report) => ({ ...report, instance: dispatcher.instanceLabel(report.status.instanceId) }))
    .sort((a, b) => a.instance.localeCompare(b.instance) || a.status.channel.localeCompare(b.status.channel) || a.status.id.localeCompare(b.status.id));
  const disabled = dispatcher.disabledDestinations();
  const disabledReports = await dispatcher.reportsOf(disabled.map(({ id }) => id));
  const disabledRows = disabled
    .map((destination, n) => ({ destination, report: disabledReports[n], instance: dispatcher.instanceLabel(destination.instanceId) }))
    .sort((a, b) => a.instance.localeCompare(b.instance) || a.destination.id.localeCompare(b.destination.id))
    .map(({ destination, report, instance }) =>
      disabledRow(destination, instance, report?.backlog ?? 0, report?.disabled?.pending ?? 0, report?.disabled?.failed ?? 0, clustered),
    );
  if (!reports.length && !disabledRows.length) return html`<p class="empty">No destination: configure a webhook, a broker or a realtime subscriber.</p>`;
  const rows = reports.map(({ status, instance, backlog, node, asOf }) => {
    const attempts = status.delivered + status.retried + status.failed;
    const here = asOf === undefined;
    // Destinations outside the workers that this one feeds (a realtime feed's subscribers), run here.
    const fed = here ? outside.get(figuresKey(status.channel, status.instanceId)) : undefined;
    const oldest = here ? dispatcher.oldestPendingAt(status.id) : null;
    const nodeCell = clustered ? html`<td data-field="node">${node ?? 'none'}${here ? '' : html` <span class="muted">(figures ${age(asOf ?? null)} old)</span>`}</td>` : html``;
    return html`<tr data-destination="${status.id}">
  <td>${instance}</td>
  <td>${status.channel}</td>
  <td><code class="muted">${status.id}</code></td>
  ${nodeCell}
  <td class="state-${status.state}">${status.state}</td>
  <td class="num" data-field="lag">${Math.max(backlog, fed?.lag ?? 0)}</td>
  <td class="num" data-field="oldest">${oldest ? age(oldest) : '—'}</td>
  <td class="num" data-field="in-flight">${status.inFlight}</td>
  <td class="num" data-field="retrying">${status.retrying + (fed?.retrying ?? 0)}</td>
  <td class="num" data-field="success">${percent(status.delivered, attempts)}</td>
  <td class="num" data-field="delivered">${status.delivered}</td>
  <td class="num" data-field="dead">${status.failed}</td>
  <td class="error">${status.lastError ?? ''}</td>
</tr>`;
  });
  const nodeHeader = clustered ? html`<th>node</th>` : html``;
  return html`<table>
  <thead><tr><th>instance</th><th>channel</th><th>destination</th>${nodeHeader}<th>circuit</th><th>lag</th><th>oldest pending</th><th>in flight</th><th>retrying</th><th>success</th><th>delivered</th><th>dead</th><th>last error</th></tr></thead>
  <tbody>${rows}${disabledRows}</tbody>
</table>
<p class="muted">Log head: ${head}. Counts since the server started${clustered ? ' (for another node: since it started)' : ''}; for a disabled destination, its dead letters recorded.</p>`;
}
