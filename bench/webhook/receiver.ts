import { Worker } from 'node:worker_threads';
import type { ReceiverCommand, ReceiverMessage, ReceiverServer, ReceiverStats } from './receiver-worker.ts';

/** Node 20 does not pass tsx's loader on to workers: the worker registers it, then loads the TypeScript entry. */
const WORKER_BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(new URL('./receiver-worker.ts', import.meta.url).href)}); })`;

/** The benchmarks' webhook receiver (receiver-worker.ts), in a worker thread of the benchmark's process. */
export class Receiver {
  private readonly worker: Worker;
  readonly url: Promise<string>;

  /** `server`: node:http (the default) or the lean HTTP/1.1 reader (receiver-worker.ts says when). */
  constructor(server: ReceiverServer = 'http') {
    this.worker = new Worker(WORKER_BOOT, { eval: true, workerData: { server } });
    this.url = this.next('listening').then((message) => `http://127.0.0.1:${(message as { port: number }).port}/webhook`);
  }

  private next(type: ReceiverMessage['type']): Promise<ReceiverMessage> {
    return new Promise((resolve) => {
      const listener = (message: ReceiverMessage) => {
        if (message.type !== type) return;
        this.worker.off('message', listener);
        resolve(message);
      };
      this.worker.on('message', listener);
    });
  }

  /** Expects `expected` distinct events; resolves with the time the last one arrived. */
  expect(expected: number, failRate = 0): Promise<number> {
    this.worker.postMessage({ type: 'reset', expected, failRate } satisfies ReceiverCommand);
    return this.next('done').then((message) => (message as { at: number }).at);
  }

  async stats(): Promise<ReceiverStats> {
    const reply = this.next('stats');
    this.worker.postMessage({ type: 'stats' } satisfies ReceiverCommand);
    return (await reply) as ReceiverStats & { type: 'stats' };
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}
