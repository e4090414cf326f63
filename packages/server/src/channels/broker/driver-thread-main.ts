import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { KafkaSettings } from '../../config/kafka-settings.ts';
import { leaseContext, type SendContext } from '../../delivery/destination.ts';
import { retry } from '../../delivery/outcome.ts';
import { createLogger } from '../../ops/logger.ts';
import type { BrokerDriver } from './broker-channel.ts';
import { fromColumns, type DriverThreadData, type FromThread, type PublishRequest, type ThreadedDriverName, type ToThread } from './driver-thread-messages.ts';
import { reasonOf } from '../../core/error-reason.ts';

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

/** Why the driver could not be built (its module did not load): every batch is answered `retry` with it. */
let unbuilt: string | undefined;
const ready: Promise<BrokerDriver | undefined> = DRIVERS[data.driver]().catch((error: unknown) => {
  unbuilt = `${data.driver}: the driver could not start: ${reasonOf(error)}`;
  log.error({ err: error }, unbuilt);
  post({ kind: 'connection', state: 'disconnected', lastError: unbuilt });
  return undefined;
});

let reported = '';
function reportConnection(driver: BrokerDriver): void {
  const { state, lastError } = driver.connection();
  const key = `${state}\n${lastError}`;
  if (key === reported) return;
  reported = key;
  post({ kind: 'connection', state, lastError });
}

/** Until when each batch in flight handed over under a lease may be written (renewed or dropped by `lease` messages). */
const leases = new Map<number, { until: number; readonly dropped: AbortController }>();

/** The lease of a batch as the main thread last told it: asked after each of the driver's own waits. */
function sendingOf(request: PublishRequest): SendContext | undefined {
  if (request.writableUntil === Infinity) return undefined;
  const lease = { until: request.writableUntil, dropped: new AbortController() };
  leases.set(request.id, lease);
  return leaseContext(() => lease.until, lease.dropped.signal);
}

function leaseMoved(id: number, until: number): void {
  const lease = leases.get(id);
  if (!lease) return;
  lease.until = until;
  if (until === 0) lease.dropped.abort();
}

async function publish(driver: BrokerDriver | undefined, request: PublishRequest): Promise<void> {
  const batch = fromColumns(request.batch);
  if (!driver) return post({ kind: 'outcomes', id: request.id, outcomes: batch.map(() => retry(unbuilt ?? data.driver)) });
  const sending = sendingOf(request);
  try {
    const outcomes = await driver.publish(batch, request.destination, sending);
    reportConnection(driver);
    post({ kind: 'outcomes', id: request.id, outcomes: outcomes.every((outcome) => outcome.kind === 'delivered' && outcome.attempt === undefined) ? null : outcomes });
  } catch (error) {
    reportConnection(driver);
    post({ kind: 'outcomes', id: request.id, outcomes: batch.map(() => retry(`${data.driver}: ${reasonOf(error)}`)) });
  } finally {
    leases.delete(request.id);
  }
}

const watch = setInterval(() => void ready.then((driver) => driver && reportConnection(driver)), 250);
watch.unref();

// Every message waits for the driver, in the order they came: a lease moves after its batch was taken
// (a batch in the driver's waits sees it before its next write: the waits end on later turns).
port.on('message', (message: ToThread) => {
  void ready.then(async (driver) => {
    if (message.kind === 'publish') return publish(driver, message);
    if (message.kind === 'lease') return leaseMoved(message.id, message.writableUntil);
    if (message.kind === 'start') return driver?.start?.();
    clearInterval(watch);
    await driver?.close();
    post({ kind: 'closed' });
  });
});
