import type { AppContext } from '../../app-context.ts';
import { age } from '../format.ts';
import { html, type Html } from '../html.ts';

/** Who is connected now: Socket.IO sockets and acknowledged WebSocket (`/events/ws`) subscribers. */
export function clientsFragment(context: AppContext): Html {
  const clients = context.channels
    .all()
    .flatMap((module) => (module.clients?.() ?? []).map((client) => ({ ...client, channel: module.name === 'websocket' ? 'socket.io' : module.name })))
    .sort((a, b) => a.connectedAt - b.connectedAt);
  if (!clients.length) return html`<p class="empty">No Socket.IO or realtime WebSocket client is connected.</p>`;
  const rows = clients.map(
    (client) => html`<tr>
  <td>${client.channel}</td>
  <td>${client.instance}</td>
  <td><code>${client.client}</code></td>
  <td>${client.address ?? '—'}</td>
  <td>${age(client.connectedAt)}</td>
  <td>${client.detail}</td>
</tr>`,
  );
  return html`<table>
  <thead><tr><th>channel</th><th>instance</th><th>client</th><th>address</th><th>connected for</th><th>receives</th></tr></thead>
  <tbody>${rows}</tbody>
</table>`;
}
