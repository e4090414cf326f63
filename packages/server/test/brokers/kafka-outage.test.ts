import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { requireService } from '../helpers/pombo-harness.ts';
import { followTopic, KAFKA_BROKERS, kafkaAvailable } from './kafka-topic-reader.ts';
import { killLosesNothing, outageLosesNothing, type Disruption, type LossSubject } from './loss-scenarios.ts';

const SERVICES = fileURLToPath(new URL('../../../../scripts/services/', import.meta.url));
const PID_FILE = join(process.env.POMBO_SERVICES_DIR ?? join(homedir(), '.cache', 'pombo-services'), 'kafka', 'kafka.pid');
const run = promisify(execFile);

/** The broker's pid when scripts/services/kafka.sh started it (only then can a test stop it). */
function kafkaPid(): number | undefined {
  try {
    const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

const reachable = await kafkaAvailable();
const needsKafka = requireService(reachable, 'Kafka on 127.0.0.1:9092', 'run scripts/services/kafka.sh');
const needsOwnKafka =
  reachable && kafkaPid() === undefined ? { skip: 'the Kafka on 127.0.0.1:9092 was not started by scripts/services/kafka.sh, so the test cannot stop it' } : needsKafka;

const subject: LossSubject = {
  channel: 'kafka',
  env: { KAFKA_ENABLED: 'true', KAFKA_BROKERS, KAFKA_AUTO_CREATE_TOPICS: 'true', KAFKA_REQUEST_TIMEOUT: '2000', KAFKA_RETRY_MAX_DELAY_MS: '300' },
  config: { enabled: true, events: ['MESSAGES_UPSERT'] },
  ordered: true,
  async consume(instance) {
    const follower = await followTopic(`evolution.${instance}.messages-upsert`);
    return { numbers: async () => follower.records.map((record) => JSON.parse(record.value).data.n), close: () => follower.close() };
  },
};

/** A broker crash: SIGKILL by scripts/services/stop.sh, then kafka.sh starts it again and waits until it serves. */
const crash: Disruption = {
  async cut() {
    await run('bash', [`${SERVICES}stop.sh`, 'kafka', '--kill']);
  },
  async restore() {
    await run('bash', [`${SERVICES}kafka.sh`], { timeout: 180_000 });
  },
};

/** Sends a signal to the broker, never to anything else (pid 0 would be this process group). */
function signalKafka(signal: NodeJS.Signals): void {
  const pid = kafkaPid();
  if (pid === undefined || pid <= 1) throw new Error(`no Kafka pid in ${PID_FILE}`);
  process.kill(pid, signal);
}

/** A broker that stops answering (SIGSTOP) and comes back at once (SIGCONT): requests time out meanwhile. */
const freeze: Disruption = {
  async cut() {
    signalKafka('SIGSTOP');
  },
  async restore() {
    signalKafka('SIGCONT');
  },
};

test('a Kafka crash while events flow loses nothing', needsOwnKafka, async (t) => {
  try {
    await outageLosesNothing(t, subject, crash);
  } finally {
    if (!(await kafkaAvailable())) await crash.restore();
  }
});

test('kill -9 of Pombo while it catches up a Kafka backlog loses nothing', needsOwnKafka, async (t) => {
  try {
    await killLosesNothing(t, subject, freeze);
  } finally {
    await freeze.restore();
  }
});
