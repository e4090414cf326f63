import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SendContext } from '../../delivery/destination.ts';
import { DELIVERED, retry, type Outcome } from '../../delivery/outcome.ts';
import type { BrokerDriver, BrokerMessage, BrokerTarget, ConnectionState } from './broker-channel.ts';
import { toColumns, type DriverThreadData, type FromThread, type ToThread } from './driver-thread-messages.ts';

/** How often the leases of batches in flight are passed on to the thread (cluster mode): renewals reach a batch that waits. */
const LEASE_REFRESH_MS = 200;
/** How long `close` waits for the driver to close its connections before it stops the thread anyway. */
const CLOSE_GRACE_MS = 10_000;
/** A thread that died is started again after this, doubling per death in a row up to the cap. */
const RESTART_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;

/**
 * Starts driver-thread-main.ts. From the TypeScript sources (tests, benchmarks, `npm run dev`) a worker
 * does not inherit tsx's loader, so it registers it first; the built server loads the compiled module.
 */
function startThread(data: DriverThreadData): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(fromSources ? './driver-thread-main.ts' : './driver-thread-main.js', import.meta.url);
  if (!fromSources) return new Worker(url, { workerData: data });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import(${tsx}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(code, { eval: true, workerData: data });
}

interface InFlight {
  readonly size: number;
  readonly resolve: (outcomes: Outcome[]) => void;
  readonly sending: SendContext | undefined;
  /** The lease's moment as the thread last heard it. */
  told: number;
  /** Tells the thread at once when the node drops the lease (removed once the batch is answered). */
  readonly dropped: () => void;
}

/** Until when the thread may write under the lease: 0 once the node dropped it. */
const leaseMoment = (sending: SendContext): number => (sending.withdrawn.aborted ? 0 : sending.writableUntil());

/**
 * A broker driver that runs on a thread of its own (driver-thread-main.ts): the main thread appends,
 * reads the log and builds the envelopes; the client library's encoding and socket writes run beside
 * it, on the second core, and answer the same outcomes. A thread that dies answers its batches in
 * flight `retry` (the dispatcher sends them again) and is started again.
 *
 * In cluster mode a driver asks the lease right before it writes (`SendContext.mayStart`); across
 * threads the thread gets the moment until which the node is sure of the lease (`writableUntil`) with
 * the batch, its renewals while the batch waits, and 0 at once when the node drops it (`withdrawn`).
 */
export class ThreadedDriver implements BrokerDriver {
  private thread: Worker | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private state: { state: ConnectionState; lastError: string | null } = { state: 'disconnected', lastError: null };
  private closing: Promise<void> | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private deaths = 0;

  constructor(
    private readonly data: DriverThreadData,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.post({ kind: 'start' });
  }

  connection() {
    return this.state;
  }

  publish(batch: readonly BrokerMessage[], destination: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    if (this.closing) return Promise.resolve(batch.map(() => retry(`${this.data.driver}: the server is stopping`)));
    const id = this.nextId++;
    // A lease dropped before the hand-over (the node stopping its workers) is 0 from the start.
    const writableUntil = sending ? leaseMoment(sending) : Infinity;
    return new Promise((resolve) => {
      const dropped = () => this.tellLease(id);
      this.inFlight.set(id, { size: batch.length, resolve, sending, told: writableUntil, dropped });
      try {
        this.post({ kind: 'publish', id, batch: toColumns(batch), destination: { id: destination.id, ordering: destination.ordering }, writableUntil });
      } catch (error) {
        this.answer(id, null, `${this.data.driver}: the batch could not be handed to the driver's thread: ${(error as Error).message}`);
        return;
      }
      if (sending) {
        sending.withdrawn.addEventListener('abort', dropped, { once: true });
        this.leaseTimer ??= setInterval(() => this.refreshLeases(), LEASE_REFRESH_MS).unref();
      }
    });
  }

  close(): Promise<void> {
    this.closing ??= this.closeThread();
    return this.closing;
  }

  private async closeThread(): Promise<void> {
    clearTimeout(this.restartTimer);
    clearInterval(this.leaseTimer);
    const thread = this.thread;
    if (!thread) return;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        thread.on('message', (message: FromThread) => message.kind === 'closed' && resolve());
        thread.once('exit', () => resolve());
        thread.postMessage({ kind: 'close' } satisfies ToThread);
      }),
      new Promise<void>((resolve) => {
        grace = setTimeout(() => {
          this.log.warn({ channel: this.data.driver }, `the driver did not close within ${CLOSE_GRACE_MS} ms: its thread is stopped`);
          resolve();
        }, CLOSE_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    await thread.terminate();
  }

  /** Hands a message to the thread, started first if there is none (never once closing). */
  private post(message: ToThread): void {
    if (this.closing) return;
    (this.thread ??= this.startThread()).postMessage(message);
  }

  private startThread(): Worker {
    clearTimeout(this.restartTimer);
    const thread = startThread(this.data);
    thread.on('message', (message: FromThread) => this.received(message));
    thread.on('error', (error) => this.log.error({ err: error, channel: this.data.driver }, "the driver's thread failed"));
    thread.once('exit', (code) => this.exited(thread, code));
    return thread;
  }

  /** A thread that stopped: its batches go again, and unless the server is stopping a new thread connects. */
  private exited(thread: Worker, code: number): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    const reason = `${this.data.driver}: the driver's thread stopped (exit code ${code}) before the broker answered`;
    for (const id of [...this.inFlight.keys()]) this.answer(id, null, reason);
    this.state = { state: 'disconnected', lastError: reason };
    if (this.closing) return;
    const delay = Math.min(RESTART_MAX_DELAY_MS, RESTART_DELAY_MS * 2 ** this.deaths++);
    this.restartTimer = setTimeout(() => this.start(), delay);
    this.restartTimer.unref();
  }

  private received(message: FromThread): void {
    if (message.kind === 'outcomes') this.answer(message.id, message.outcomes as Outcome[] | null);
    else if (message.kind === 'connection') {
      this.state = { state: message.state, lastError: message.lastError };
      if (message.state === 'connected') this.deaths = 0;
    } else if (message.kind === 'log') this.relayLog(message.line);
  }

  /** Answers a batch: its outcomes (`null`: all delivered), or `retry` with `failure` for each message. */
  private answer(id: number, outcomes: Outcome[] | null, failure?: string): void {
    const batch = this.inFlight.get(id);
    if (!batch) return;
    this.inFlight.delete(id);
    batch.sending?.withdrawn.removeEventListener('abort', batch.dropped);
    if (failure !== undefined) batch.resolve(Array.from({ length: batch.size }, () => retry(failure)));
    else batch.resolve(outcomes ?? Array.from({ length: batch.size }, () => DELIVERED));
  }

  /** Tells the thread a batch's lease moved (renewed, or dropped: 0). */
  private tellLease(id: number): void {
    const batch = this.inFlight.get(id);
    if (!batch?.sending) return;
    const until = leaseMoment(batch.sending);
    if (until === batch.told) return;
    batch.told = until;
    this.post({ kind: 'lease', id, writableUntil: until });
  }

  private refreshLeases(): void {
    let leased = 0;
    for (const [id, batch] of this.inFlight) {
      if (!batch.sending) continue;
      leased++;
      this.tellLease(id);
    }
    if (leased === 0) {
      clearInterval(this.leaseTimer);
      this.leaseTimer = undefined;
    }
  }

  /** A record of the thread's logger, written by the main thread's (its redaction already applied). */
  private relayLog(line: string): void {
    try {
      const { level, time: _time, pid: _pid, hostname: _hostname, service: _service, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const name = this.log.levels.labels[level as number] ?? 'info';
      this.log[name as 'info'](fields, String(msg ?? ''));
    } catch {
      this.log.warn({ channel: this.data.driver }, "a log record of the driver's thread could not be read");
    }
  }
}
