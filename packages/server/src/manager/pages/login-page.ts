import { html, type Html } from '../html.ts';
import { layout } from './layout.ts';

/** The login form: the global API key, posted once, exchanged for a session cookie. */
export function loginPage(error?: string): Html {
  return layout(
    'Log in',
    html`<form class="login" method="post" action="/manager/login">
  <h1>Pombo manager</h1>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  <label for="key">Global API key</label>
  <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
  <button type="submit">Log in</button>
  <p class="muted">The key is the server's <code>AUTHENTICATION_API_KEY</code> (or <code>data/api-key</code>).</p>
</form>`,
  );
}
