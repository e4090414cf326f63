import assert from 'node:assert/strict';
import type { Harness } from './pombo-harness.ts';

/** Logs in to the manager with the global key, as its login form does; answers the session's cookie. */
export async function managerCookie(pombo: Harness): Promise<string> {
  const login = await fetch(`${pombo.url}/manager/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { origin: pombo.url, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ key: pombo.apiKey }).toString(),
  });
  assert.equal(login.status, 303);
  assert.equal(login.headers.get('location'), '/manager');
  return (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}
