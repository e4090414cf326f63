import type { AppContext } from '../../app-context.ts';
import { age } from '../format.ts';
import { html, type Html } from '../html.ts';

/** The channels an instance has a configuration for and has not turned off. */
function channelsOf(channels: Readonly<Record<string, unknown>>): string[] {
  return Object.entries(channels)
    .filter(([, config]) => (config as { enabled?: unknown } | null)?.enabled !== false)
    .map(([name]) => name)
    .sort();
}

/** Every instance: its integration, connection state, number and configured channels. */
export function instancesFragment(context: AppContext): Html {
  const instances = context.instances.list();
  if (!instances.length) return html`<p class="empty">No instance yet: create one with <code>POST /instance/create</code>.</p>`;
  const rows = instances.map(
    (instance) => html`<tr>
  <td><strong>${instance.name}</strong></td>
  <td>${instance.integration}</td>
  <td class="state-${instance.state}">${instance.state}</td>
  <td>${instance.number ?? '—'}</td>
  <td>${channelsOf(instance.channels).join(', ') || '—'}</td>
  <td title="${instance.createdAt}">${age(instance.createdAt)} ago</td>
</tr>`,
  );
  return html`<table>
  <thead><tr><th>name</th><th>integration</th><th>state</th><th>number</th><th>channels</th><th>created</th></tr></thead>
  <tbody>${rows}</tbody>
</table>`;
}
