import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { postgresTestSchema } from '../helpers/postgres-test-schema.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { logOf } from '../core/http-assert.ts';

/**
 * A Pombo on PostgreSQL whose database stops answering (through a TCP proxy: connections reset, then a
 * partition that drops everything) answers ingest with 503 POMBO_ERR_UNAVAILABLE and a message that
 * says to send again, never a 500; sent again once the database is back, the event is stored once.
 */
const { uri, service } = await postgresTestSchema();
const STATEMENT_TIMEOUT_MS = 500;

const message = (id: string) => ({ key: { remoteJid: '5511955554444@s.whatsapp.net', fromMe: false, id }, message: { conversation: id } });

describe('ingest while PostgreSQL does not answer', { skip: 'skip' in service ? service.skip : false }, () => {
  let proxy: TcpProxy;
  let pombo: Harness;
  let name: string;
  before(async () => {
    proxy = await startTcpProxy({ port: 5432 });
    pombo = await startPombo({
      DATABASE_PROVIDER: 'postgresql',
      DATABASE_CONNECTION_URI: uri.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`),
      DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    });
    name = uniqueName('unreachable');
    const created = await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });
  after(async () => {
    proxy?.restore();
    await pombo?.close();
    await proxy?.close();
  });

  for (const fault of ['cut', 'freeze'] as const) {
    test(`connections ${fault === 'cut' ? 'reset' : 'frozen (a partition)'}: 503 with what to do, then the event sent again is stored once`, async () => {
      const id = `wamid-${fault}`;
      const event = { event: 'MESSAGES_UPSERT', data: message(id), id };
      proxy[fault]();
      const refused = await pombo.api('POST', `/events/${name}`, event);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'POMBO_ERR_UNAVAILABLE');
      assert.match(refused.body.response.message[0], /the database did not answer .*send the request again/);
      proxy.restore();
      let sent: { status: number; body: any } | undefined;
      // The pool drops the broken connections and opens new ones: the first tries may still meet one.
      for (let attempt = 0; attempt < 20; attempt++) {
        sent = await pombo.api('POST', `/events/${name}`, event);
        if (sent.status !== 503) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(sent && [200, 201].includes(sent.status), JSON.stringify(sent?.body));
      const stored = (await logOf(pombo, name)).filter((e) => e.data?.key?.id === id);
      assert.equal(stored.length, 1, 'the event is in the log once');
    });
  }
});
