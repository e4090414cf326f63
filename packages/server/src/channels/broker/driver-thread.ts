import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SendContext } from '../../delivery/destination.ts';
import { delivered, retry, type Outcome } from '../../delivery/outcome.ts';
import type { BrokerDriver, BrokerMessage, BrokerTarget, ConnectionState } from './broker-channel.ts';
import { toColumns, type DriverThreadData, type FromThread, type ToThread } from './driver-thread-messages.ts';

const DELIVERED: Outcome = Object.freeze(delivered());

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

/** The level names of pino's numbers, for the records the thread hands over. */
const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * A broker driver that runs on a thread of its own (driver-thread-main.ts): the main thread appends,
 * reads the log and builds the envelopes; the client library's encoding and socket writes run beside
 * it, on the second core, and answer the same outcomes. A thread that dies answers its batches in
 * flight `retry` (the dispatcher sends them again) and is started again at the next batch.
 *
 * In cluster mode a driver asks the lease again right before it writes (`SendContext.mayStart`); across
 * threads it gets the moment until which the node is sure of its lease when the batch is handed over
 * (`SendContext.writableUntil`), and writes nothing after it.
 */
export class ThreadedDriver implements BrokerDriver {
  private thread: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { size: number; resolve: (outcomes: Outcome[]) => void }>();
  private state: { state: ConnectionState; lastError: string | null } = { state: 'disconnected', lastError: null };
  private closing: Promise<void> | undefined;

  constructor(
    private readonly data: DriverThreadData,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.send({ kind: 'start' });
  }

  connection() {
    return this.state;
  }

  publish(batch: readonly BrokerMessage[], destination: BrokerTarget, sending?: SendContext): Promise<Outcome[]> {
    if (this.closing) return Promise.resolve(batch.map(() => retry(`${this.data.driver}: the server is stopping`)));
    const id = this.nextId++;
    const writableUntil = sending ? sending.writableUntil() : Infinity;
    const withdraw = () => this.send({ kind: 'withdraw', id });
    sending?.withdrawn.addEventListener('abort', withdraw, { once: true });
    return new Promise<Outcome[]>((resolve) => {
      this.waiting.set(id, { size: batch.length, resolve });
      this.send({ kind: 'publish', id, batch: toColumns(batch), destination: { id: destination.id, ordering: destination.ordering }, writableUntil });
    }).finally(() => sending?.withdrawn.removeEventListener('abort', withdraw));
  }

  close(): Promise<void> {
    this.closing ??= this.closeThread();
    return this.closing;
  }

  private async closeThread(): Promise<void> {
    const thread = this.thread;
    if (!thread) return;
    const closed = new Promise<void>((resolve) => {
      thread.on('message', (message: FromThread) => message.kind === 'closed' && resolve());
      thread.once('exit', () => resolve());
    });
    thread.postMessage({ kind: 'close' } satisfies ToThread);
    await closed;
    await thread.terminate();
  }

  private send(message: ToThread): void {
    (this.thread ??= this.startThread()).postMessage(message);
  }

  private startThread(): Worker {
    const thread = startThread(this.data);
    thread.on('message', (message: FromThread) => this.received(message));
    thread.on('error', (error) => this.log.error({ err: error }, `${this.data.driver}: the driver's thread failed`));
    thread.once('exit', (code) => {
      if (this.thread === thread) this.thread = undefined;
      const reason = `${this.data.driver}: the driver's thread stopped (exit code ${code}) before the broker answered`;
      for (const { size, resolve } of this.waiting.values()) resolve(Array.from({ length: size }, () => retry(reason)));
      this.waiting.clear();
      this.state = { state: 'disconnected', lastError: reason };
    });
    return thread;
  }

  private received(message: FromThread): void {
    if (message.kind === 'outcomes') {
      const waiting = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (waiting) waiting.resolve((message.outcomes as Outcome[] | null) ?? Array.from({ length: waiting.size }, () => DELIVERED));
    } else if (message.kind === 'connection') {
      this.state = { state: message.state, lastError: message.lastError };
    } else if (message.kind === 'log') {
      this.relayLog(message.line);
    }
  }

  /** A record of the thread's logger, written by the main thread's (its redaction already applied). */
  private relayLog(line: string): void {
    const { level, time: _time, pid: _pid, hostname: _hostname, service: _service, msg, ...fields } = JSON.parse(line) as Record<string, unknown>;
    this.log[LEVELS[level as number] ?? 'info'](fields, String(msg ?? ''));
  }
}
