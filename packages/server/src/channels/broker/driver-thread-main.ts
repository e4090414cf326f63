import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { KafkaSettings } from '../../config/kafka-settings.ts';
import type { SendContext } from '../../delivery/destination.ts';
import { retry } from '../../delivery/outcome.ts';
import { createLogger } from '../../ops/logger.ts';
import type { BrokerDriver } from './broker-channel.ts';
import { fromColumns, type DriverThreadData, type FromThread, type PublishRequest, type ThreadedDriverName, type ToThread } from './driver-thread-messages.ts';

/**
 * The thread a broker driver runs on (driver-thread.ts): the client library's encoding, buffers and
 * socket writes leave the event loop that appends and reads the log. It builds the driver named in
 * `workerData`, publishes what the main thread hands it and answers the outcomes; its log records go
 * to the main thread's logger.
 */
const data = workerData as DriverThreadData;
const port = parentPort!;
const post = (message: FromThread): void => port.postMessage(message);

const log: Logger = createLogger(data.level, { write: (line: string) => post({ kind: 'log', line }) });

/** The drivers a channel may run here, by name. */
const DRIVERS: Record<ThreadedDriverName, () => Promise<BrokerDriver>> = {
  kafka: async () => {
    const { KafkaDriver } = await import('../kafka/kafka-driver.ts');
    return new KafkaDriver(data.settings as KafkaSettings, log.child({ channel: 'kafka' }), data.batch);
  },
};

let reported = '';
function reportConnection(driver: BrokerDriver): void {
  const { state, lastError } = driver.connection();
  const key = `${state}\n${lastError}`;
  if (key === reported) return;
  reported = key;
  post({ kind: 'connection', state, lastError });
}

/** The withdrawal of each batch in flight handed over under a lease (cluster mode). */
const leases = new Map<number, AbortController>();

/** The lease of a batch as the main thread saw it when it handed it over, and its withdrawal. */
function sendingOf(request: PublishRequest): SendContext | undefined {
  const { id, writableUntil } = request;
  if (writableUntil === Infinity) return undefined;
  const lost = new AbortController();
  leases.set(id, lost);
  return { mayStart: () => !lost.signal.aborted && Date.now() < writableUntil, writableUntil: () => writableUntil, withdrawn: lost.signal };
}

async function publish(driver: BrokerDriver, request: PublishRequest): Promise<void> {
  const batch = fromColumns(request.batch);
  const sending = sendingOf(request);
  try {
    const outcomes = await driver.publish(batch, request.destination, sending);
    reportConnection(driver);
    post({ kind: 'outcomes', id: request.id, outcomes: outcomes.every((outcome) => outcome.kind === 'delivered' && outcome.attempt === undefined) ? null : outcomes });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    reportConnection(driver);
    post({ kind: 'outcomes', id: request.id, outcomes: batch.map(() => retry(`${data.driver}: ${reason}`)) });
  }
  leases.delete(request.id);
}

const ready = DRIVERS[data.driver]();
const watch = setInterval(() => void ready.then(reportConnection), 250);
watch.unref();

port.on('message', (message: ToThread) => {
  void ready.then(async (driver) => {
    if (message.kind === 'publish') return publish(driver, message);
    if (message.kind === 'withdraw') return leases.get(message.id)?.abort();
    if (message.kind === 'start') return driver.start?.();
    clearInterval(watch);
    await driver.close();
    post({ kind: 'closed' });
  });
});
