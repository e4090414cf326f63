import type { ConnectionState } from './broker-channel.ts';

/**
 * The state `find` shows for a broker spoken to by independent HTTP requests (SQS, Pusher), which
 * has no connection of its own: unknown until the first request, then what the last one found.
 */
export class RequestState {
  private state: ConnectionState = 'connecting';
  private lastError: string | null = null;

  connection(): { state: ConnectionState; lastError: string | null } {
    return { state: this.state, lastError: this.lastError };
  }

  succeeded(): void {
    this.state = 'connected';
    this.lastError = null;
  }

  /** `answered`: the server replied (with an error), so it is reachable; else it could not be reached. */
  failed(error: string, answered: boolean): void {
    this.state = answered ? 'connected' : 'disconnected';
    this.lastError = error;
  }
}
