import { html, type Html } from '../html.ts';
import { layout } from './layout.ts';

/** A section whose content htmx fetches at once and then every `seconds`. */
const polled = (id: string, title: string, seconds: number): Html => html`<section>
  <h2>${title}</h2>
  <div id="${id}" hx-get="/manager/fragments/${id}" hx-trigger="load, every ${seconds}s">
    <p class="muted">Loading…</p>
  </div>
</section>`;

/** The dashboard: polled fragments, and the live event stream over server-sent events. */
export function dashboardPage(): Html {
  return layout(
    'Manager',
    html`<header>
  <h1>Pombo manager</h1>
  <form method="post" action="/manager/logout"><button type="submit">Log out</button></form>
</header>
<main>
  ${polled('instances', 'Instances', 5)}
  ${polled('destinations', 'Destinations', 2)}
  ${polled('dead-letters', 'Dead letters', 3)}
  ${polled('clients', 'Connected clients', 3)}
  <section>
    <h2>Live events</h2>
    <div hx-ext="sse" sse-connect="/manager/events/stream">
      <table>
        <thead><tr><th>time</th><th>instance</th><th>event</th><th>id</th><th>data</th></tr></thead>
        <tbody id="events" sse-swap="logged" hx-swap="afterbegin"></tbody>
      </table>
    </div>
  </section>
</main>`,
  );
}
