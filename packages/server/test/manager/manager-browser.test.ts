import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumRequired, launchChromium } from '../helpers/chromium.ts';
import { startPombo } from '../helpers/pombo-harness.ts';
import { startReceiver } from '../webhook/http-receiver.ts';
import { emit, FAST_RETRIES, instanceWithWebhook } from '../webhook/webhook-fixtures.ts';

const XSS = `<img src=x onerror="window.__pwned=1"></td><script>window.__pwned=2</script>`;

test('in Chromium: log in, watch an event arrive live, see a dead letter, replay it once the receiver is fixed, see it delivered, log out', chromiumRequired(), async (t) => {
  let fixed = false;
  const receiver = await startReceiver((request) => (request.json?.data?.doomed && !fixed ? { status: 404 } : { status: 200 }));
  const pombo = await startPombo(FAST_RETRIES);
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await pombo.close();
    await receiver.close();
  });
  const instance = await instanceWithWebhook(pombo, { enabled: true, url: `${receiver.url}/hook` }, 'mgr');
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
  page.on('pageerror', (error) => problems.push(error.message));

  // Not logged in: the dashboard sends to the login form; a wrong key is refused.
  await page.goto(`${pombo.url}/manager`);
  assert.equal(new URL(page.url()).pathname, '/manager/login');
  await page.fill('#key', `${pombo.apiKey}-wrong`);
  await page.click('button[type=submit]');
  await page.getByRole('alert').getByText('This is not the global API key.').waitFor();
  assert.deepEqual(await page.context().cookies(), []);

  await page.fill('#key', pombo.apiKey);
  await page.click('button[type=submit]');
  await page.waitForURL(`${pombo.url}/manager`);
  problems.length = 0; // the refused login's 401 was meant
  const [cookie, ...others] = await page.context().cookies();
  assert.equal(others.length, 0);
  assert.deepEqual([cookie?.name, cookie?.httpOnly, cookie?.sameSite, cookie?.path], ['pombo_manager', true, 'Strict', '/manager']);
  assert.ok(cookie && !cookie.value.includes(pombo.apiKey) && cookie.value.length >= 40, 'the cookie holds a session id, not the key');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no script can read the session cookie');

  // The instance is listed; an event ingested while the page is open appears in the live stream, as text.
  await page.locator('#instances td', { hasText: instance.name }).waitFor();
  // The stream opens with the log's recent events (the instance's creation): from then on, it is live.
  await page.locator('#events tr', { hasText: 'instance.create' }).first().waitFor();
  const [liveId] = await emit(pombo, instance, [{ event: 'MESSAGES_UPSERT', data: { message: { conversation: XSS } } }]);
  const liveRow = page.locator(`#events tr[data-event-id="${liveId}"]`);
  await liveRow.waitFor({ timeout: 10_000 });
  assert.equal(await liveRow.locator('td').nth(1).textContent(), instance.name);
  assert.equal(await liveRow.locator('td').nth(2).textContent(), 'messages.upsert');
  assert.ok((await liveRow.locator('td.data').textContent())?.includes(JSON.stringify(XSS)), 'the event data is shown as (JSON) text');
  assert.equal(await page.locator('#events img, #events script').count(), 0, 'no element came out of the event data');
  assert.equal(await page.evaluate(() => (window as any).__pwned), undefined);

  // A delivery the receiver refuses with 404 is dead-lettered at once and listed with a replay button.
  const [deadId] = await emit(pombo, instance, [{ event: 'MESSAGES_UPSERT', data: { doomed: true } }]);
  const deadRow = page.locator(`#dead-letters tr[data-dead-letter="${deadId}"]`);
  await deadRow.waitFor({ timeout: 10_000 });
  assert.match((await deadRow.textContent()) ?? '', /HTTP 404/);
  const destination = page.locator('#destinations tr', { hasText: instance.name });
  await destination.locator('[data-field="dead"]', { hasText: '1' }).waitFor();
  const deliveredBefore = Number(await destination.locator('[data-field="delivered"]').textContent());
  assert.ok(!receiver.deliveredIds().includes(deadId!));

  // The receiver is fixed; the replay button sends it again, it is delivered and leaves the dead letters.
  fixed = true;
  await deadRow.getByRole('button', { name: 'Replay' }).click();
  await page.locator('#dead-letters [role=status]', { hasText: '1 event sent again' }).waitFor();
  await deadRow.waitFor({ state: 'detached', timeout: 10_000 });
  await destination.locator('[data-field="delivered"]', { hasText: String(deliveredBefore + 1) }).waitFor({ timeout: 10_000 });
  assert.ok(receiver.deliveredIds().includes(deadId!), 'the receiver got the replayed event');
  const deliveries = await pombo.api('GET', `/webhook/deliveries/${instance.name}?status=delivered`);
  assert.ok(deliveries.body.deliveries.some((record: { id: string }) => record.id === deadId));

  // Logging out ends the session: the old cookie opens nothing.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(`${pombo.url}/manager/login`);
  const stale = await fetch(`${pombo.url}/manager/fragments/instances`, { headers: { cookie: `${cookie!.name}=${cookie!.value}` } });
  assert.equal(stale.status, 401);
  assert.deepEqual(problems, [], 'no script error, failed request or CSP violation on the dashboard');
});
