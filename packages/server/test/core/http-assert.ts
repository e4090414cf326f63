import assert from 'node:assert/strict';
import type { Harness } from '../helpers/pombo-harness.ts';

type Response = { status: number; body: any };

/** Asserts an error in Evolution API's shape with Pombo's stable code; `message` must match the joined messages. */
export function assertError(response: Response, status: number, code: string, message?: RegExp): void {
  const shown = JSON.stringify(response.body);
  assert.equal(response.status, status, shown);
  assert.equal(response.body?.status, status, shown);
  assert.equal(response.body?.code, code, shown);
  assert.equal(typeof response.body?.error, 'string', shown);
  assert.ok(Array.isArray(response.body?.response?.message) && response.body.response.message.length > 0, shown);
  if (message) assert.match(response.body.response.message.join(' | '), message);
}

/** The retained log of one instance, as `GET /events/:instanceName` pages it (every page). */
export async function logOf(pombo: Harness, name: string, query = ''): Promise<any[]> {
  const events: any[] = [];
  let after = '';
  for (;;) {
    const page = await pombo.api('GET', `/events/${name}?limit=1000${after ? `&after=${after}` : ''}${query}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    events.push(...page.body.events);
    if (!page.body.next) return events;
    after = page.body.next;
  }
}
