import type { EventKey } from '../core/event-names.ts';
import type { StoredEvent } from './types.ts';

const UNPARSED = Symbol('unparsed');

/**
 * An event as the log holds it. `data` stays the JSON text the log stored until something looks
 * inside it: most channels put `dataJson` in their payloads as it is, so a backlog is read back
 * without parsing every event.
 */
export class LoggedEvent implements StoredEvent {
  #data: unknown;

  constructor(
    readonly pos: number,
    readonly id: string,
    readonly instanceId: string,
    readonly instance: string,
    readonly seq: number,
    readonly event: EventKey,
    readonly dataJson: string,
    readonly sender: string | null,
    readonly createdAt: string,
    readonly extraJson: string | null = null,
    /** The value `dataJson` was made from, when the caller has it (a fresh append). */
    data: unknown = UNPARSED,
  ) {
    this.#data = data;
  }

  get data(): unknown {
    if (this.#data === UNPARSED) this.#data = JSON.parse(this.dataJson);
    return this.#data;
  }
}
