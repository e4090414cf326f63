import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin, Consumer, stringDeserializers, type BaseOptions, type Message } from '@platformatic/kafka';
import { eventually, requireService, startPombo, uniqueName, type Harness } from '../helpers/pombo-harness.ts';
import { phone } from './broker-test-helpers.ts';
import { kafkaAvailable } from './kafka-topic-reader.ts';

/**
 * SASL and TLS against the secured listeners of the test broker (scripts/services/kafka.sh):
 * SASL_SSL, SASL_PLAINTEXT and SSL with a required client certificate. The launcher writes their
 * addresses, the test CA and the test-only user into security/test-client.json.
 */
interface SecuredBroker {
  username: string;
  password: string;
  ca: string;
  clientKey: string;
  clientCert: string;
  saslSsl: string;
  saslPlaintext: string;
  ssl: string;
}

const CLIENT_FILE = join(process.env.POMBO_SERVICES_DIR ?? join(homedir(), '.cache', 'pombo-services'), 'kafka', 'security', 'test-client.json');
const broker: SecuredBroker | undefined = existsSync(CLIENT_FILE) ? JSON.parse(readFileSync(CLIENT_FILE, 'utf8')) : undefined;

/** How this test's own clients reach the broker: SCRAM-SHA-512 over TLS, as a user's consumer of a secured cluster would. */
const testClient = (b: SecuredBroker): BaseOptions => ({
  clientId: 'pombo-test',
  bootstrapBrokers: [b.saslSsl],
  sasl: { mechanism: 'SCRAM-SHA-512', username: b.username, password: b.password },
  tls: { ca: readFileSync(b.ca, 'utf8') },
});

const needsSecuredKafka = requireService(broker !== undefined && (await kafkaAvailable(testClient(broker))), `Kafka's SASL_SSL listener (${CLIENT_FILE})`, 'run scripts/services/kafka.sh');
const secured = (): SecuredBroker => broker as SecuredBroker;

/** Reads a topic from its beginning over SASL_SSL until `count` records arrived. */
async function readSecured(topic: string, count: number): Promise<Message<string, string, string, string>[]> {
  const options = testClient(secured());
  const admin = new Admin(options);
  try {
    await eventually(async () => (await admin.listTopics()).includes(topic), `topic ${topic} to exist`, 30_000, 200);
  } finally {
    await admin.close();
  }
  const consumer = new Consumer({ ...options, groupId: `pombo-test-${topic}-${Date.now()}`, deserializers: stringDeserializers });
  const records: Message<string, string, string, string>[] = [];
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxWaitTime: 200 });
  stream.on('data', (record: Message<string, string, string, string>) => records.push(record));
  stream.on('error', () => undefined);
  try {
    await eventually(() => records.length >= count, `${count} records on ${topic} (got ${records.length})`, 30_000, 50);
    return records;
  } finally {
    await stream.close().catch(() => undefined);
    await consumer.close().catch(() => undefined);
  }
}

/** The seed's variables for SASL over TLS with the test CA given as a path, as in the seed. */
const saslSslEnv = (mechanism: string, password = secured().password): Record<string, string> => ({
  KAFKA_ENABLED: 'true',
  KAFKA_BROKERS: secured().saslSsl,
  KAFKA_AUTO_CREATE_TOPICS: 'true',
  KAFKA_RETRY_MAX_DELAY_MS: '300',
  KAFKA_SASL_ENABLED: 'true',
  KAFKA_SASL_MECHANISM: mechanism,
  KAFKA_SASL_USERNAME: secured().username,
  KAFKA_SASL_PASSWORD: password,
  KAFKA_SSL_ENABLED: 'true',
  KAFKA_SSL_REJECT_UNAUTHORIZED: 'true',
  KAFKA_SSL_CA: secured().ca,
});

/** A sandbox message from alice to bob; bob's MESSAGES_UPSERT must arrive on `evolution.{bob}.messages-upsert`. */
async function sandboxMessageArrives(pombo: Harness, text: string): Promise<void> {
  const alice = uniqueName('alice');
  const bob = uniqueName('bob');
  const bobNumber = phone();
  await pombo.sandbox(alice);
  await pombo.sandbox(bob, { number: bobNumber, kafka: { enabled: true, events: ['MESSAGES_UPSERT'] } });
  assert.equal((await pombo.api('POST', `/message/sendText/${alice}`, { number: bobNumber, text })).status, 201);

  const [record] = await readSecured(`evolution.${bob}.messages-upsert`, 1);
  const envelope = JSON.parse(record?.value ?? '{}');
  assert.equal(record?.key, bob);
  assert.equal(envelope.event, 'messages.upsert');
  assert.equal(envelope.instance, bob);
  assert.equal(envelope.data.message.conversation, text);
  assert.equal(record?.headers.get('event-id'), envelope.id);
  const found = await eventually(async () => {
    const body = (await pombo.api('GET', `/kafka/find/${bob}`)).body;
    return body.state.backlog === 0 && body.state.delivered > 0 && body;
  }, `${bob}'s backlog to drain`);
  assert.equal(found.state.connection, 'connected');
  assert.equal(found.state.lastError, null);
}

/** An ingest instance with one event waiting for Kafka; returns its name and the event id. */
async function oneEventWaiting(pombo: Harness): Promise<{ name: string; id: string }> {
  const name = uniqueName('ingest');
  await pombo.api('POST', '/instance/create', { instanceName: name, integration: 'INGEST', kafka: { enabled: true } });
  const posted = await pombo.api('POST', `/events/${name}`, { event: 'MESSAGES_UPSERT', data: { key: { remoteJid: 'x@s.whatsapp.net', id: 'S1' } } });
  assert.equal(posted.status, 201);
  return { name, id: posted.body.id };
}

/** Waits until find shows a last error matching `pattern` with the event still waiting, and returns the state. */
async function failingWith(pombo: Harness, name: string, pattern: RegExp): Promise<any> {
  const state = await eventually(async () => {
    const found = (await pombo.api('GET', `/kafka/find/${name}`)).body;
    return pattern.test(found.state.lastError ?? '') && found.state;
  }, `a last error matching ${pattern} in /kafka/find/${name}`, 20_000);
  assert.notEqual(state.connection, 'connected', 'retrying: disconnected or connecting again');
  assert.ok(state.backlog >= 1, 'the event waits');
  assert.equal(state.delivered, 0);
  return state;
}

for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
  test(`KAFKA_SASL_MECHANISM=${mechanism} over TLS (KAFKA_SSL_CA a path): sandbox events arrive on the seed topic`, needsSecuredKafka, async () => {
    const pombo = await startPombo(saslSslEnv(mechanism));
    try {
      await sandboxMessageArrives(pombo, `Olá, ${mechanism}`);
      assert.match((await pombo.api('GET', '/metrics')).body, /pombo_broker_connected\{channel="kafka"\} 1/);
    } finally {
      await pombo.close();
    }
  });
}

test('SASL without TLS (SASL_PLAINTEXT, scram-sha-256): sandbox events arrive', needsSecuredKafka, async () => {
  const { KAFKA_SSL_ENABLED, KAFKA_SSL_REJECT_UNAUTHORIZED, KAFKA_SSL_CA, ...sasl } = saslSslEnv('scram-sha-256');
  const pombo = await startPombo({ ...sasl, KAFKA_BROKERS: secured().saslPlaintext });
  try {
    await sandboxMessageArrives(pombo, 'sem TLS');
  } finally {
    await pombo.close();
  }
});

test('TLS with a client certificate (KAFKA_SSL_KEY and KAFKA_SSL_CERT as PEM text with \\n escapes, as in a .env line): events arrive', needsSecuredKafka, async () => {
  const escaped = (path: string) => readFileSync(path, 'utf8').trim().replaceAll('\n', '\\n');
  const pombo = await startPombo({
    KAFKA_ENABLED: 'true',
    KAFKA_BROKERS: secured().ssl,
    KAFKA_AUTO_CREATE_TOPICS: 'true',
    KAFKA_RETRY_MAX_DELAY_MS: '300',
    KAFKA_SSL_ENABLED: 'true',
    KAFKA_SSL_CA: readFileSync(secured().ca, 'utf8'),
    KAFKA_SSL_KEY: escaped(secured().clientKey),
    KAFKA_SSL_CERT: escaped(secured().clientCert),
  });
  try {
    await sandboxMessageArrives(pombo, 'certificado de cliente');
  } finally {
    await pombo.close();
  }
});

test('a wrong SASL password is a visible delivery error, retried without a crash; with the right one the waiting event arrives', needsSecuredKafka, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pombo-kafka-sasl-'));
  const wrongPassword = 'not-the-test-password';
  try {
    const failing = await startPombo(saslSslEnv('scram-sha-256', wrongPassword), dataDir);
    let waiting: { name: string; id: string };
    try {
      waiting = await oneEventWaiting(failing);
      const first = await failingWith(failing, waiting.name, /SASL authentication failed/);
      assert.match(first.lastError, new RegExp(`Kafka at ${secured().saslSsl.replaceAll('.', '\\.')}`));
      assert.doesNotMatch(first.lastError, new RegExp(wrongPassword), 'the password is not shown');
      assert.match((await failing.api('GET', '/metrics')).body, /pombo_broker_connected\{channel="kafka"\} 0/);
      // Still retrying, still answering: the same error a while later, the event still waiting.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await failingWith(failing, waiting.name, /SASL authentication failed/);
      assert.equal((await failing.api('GET', '/instance/fetchInstances')).status, 200);
    } finally {
      await failing.close({ keepData: true });
    }

    const fixed = await startPombo(saslSslEnv('scram-sha-256'), dataDir);
    try {
      const [record] = await readSecured(`evolution.${waiting.name}.messages-upsert`, 1);
      assert.equal(JSON.parse(record?.value ?? '{}').id, waiting.id, 'the event that waited is the one delivered');
      await eventually(async () => (await fixed.api('GET', `/kafka/find/${waiting.name}`)).body.state.backlog === 0, 'the backlog to drain');
    } finally {
      await fixed.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a CA that did not sign the broker certificate is a visible, retried delivery error; KAFKA_SSL_REJECT_UNAUTHORIZED=false skips the check', needsSecuredKafka, async () => {
  // A real certificate from the test CA, but not the CA itself: the broker's chain does not verify against it.
  const wrongCa = { ...saslSslEnv('plain'), KAFKA_SSL_CA: secured().clientCert };
  const failing = await startPombo(wrongCa);
  try {
    const { name } = await oneEventWaiting(failing);
    await failingWith(failing, name, /unable to verify the first certificate|self[- ]signed certificate/);
  } finally {
    await failing.close();
  }

  const unchecked = await startPombo({ ...wrongCa, KAFKA_SSL_REJECT_UNAUTHORIZED: 'false' });
  try {
    await sandboxMessageArrives(unchecked, 'sem verificação');
  } finally {
    await unchecked.close();
  }
});

test('bad SASL/TLS variables stop the boot with a message naming each', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-kafka-pem-'));
  try {
    const notPem = join(dir, 'ca.pem');
    writeFileSync(notPem, 'this is not a certificate\n');
    await assert.rejects(
      startPombo({
        KAFKA_ENABLED: 'true',
        KAFKA_SASL_ENABLED: 'true',
        KAFKA_SASL_MECHANISM: 'gssapi',
        KAFKA_SASL_USERNAME: 'user',
        KAFKA_SASL_PASSWORD: 'secret-value',
        KAFKA_SSL_ENABLED: 'true',
        KAFKA_SSL_CA: notPem,
        KAFKA_SSL_KEY: '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----',
        KAFKA_SSL_CERT: '-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----',
      }),
      (error: Error) => {
        assert.match(error.message, /KAFKA_SASL_MECHANISM="gssapi" must be one of plain, scram-sha-256, scram-sha-512/);
        assert.match(error.message, new RegExp(`KAFKA_SSL_CA="${notPem.replaceAll('.', '\\.')}" holds no readable PEM certificate`));
        assert.match(error.message, /KAFKA_SSL_CERT holds no readable PEM certificate/);
        assert.match(error.message, /KAFKA_SSL_KEY holds no readable PEM private key/);
        assert.doesNotMatch(error.message, /secret-value/);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a KAFKA_SSL_KEY that is not the key of KAFKA_SSL_CERT stops the boot', broker ? {} : { skip: `no test certificate (${CLIENT_FILE}): run scripts/services/kafka.sh` }, async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await assert.rejects(
    startPombo({
      KAFKA_ENABLED: 'true',
      KAFKA_SSL_ENABLED: 'true',
      KAFKA_SSL_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      KAFKA_SSL_CERT: secured().clientCert,
    }),
    /KAFKA_SSL_KEY and KAFKA_SSL_CERT are not a key and its certificate \(.*key values mismatch\)/,
  );
});
