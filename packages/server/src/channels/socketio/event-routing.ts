import { eventName, selectedKeys, type EventKey } from '../../core/event-names.ts';
import { passesFilter, type PayloadFilter } from '../../core/payload-filter.ts';
import type { InstanceService } from '../../instances/instance-service.ts';
import type { Instance, StoredEvent } from '../../store/types.ts';

/** What `POST /websocket/set/:instanceName` stores: `{"websocket": {enabled, events, filter}}`. */
export interface WebsocketInstanceConfig {
  enabled: boolean;
  /** The events of its namespace; missing for every event (`selectedKeys`), empty while disabled. */
  events?: EventKey[];
  /** Which of the selected events the instance's stream gets, by what they carry (core/payload-filter.ts). */
  filter?: PayloadFilter | null;
}

/** Where one event goes: the Socket.IO event names it is emitted under, per stream. */
export interface Route {
  /** Its dotted name in the instance's namespace `/<instanceName>`, when the instance's config selects it. */
  readonly instanceEvent: string | undefined;
  /**
   * Its names on `/`: the instance's name (config or global mode); in global mode also its dotted name
   * (Evolution API's `io.emit(event, message)`) and `*`. Each name once.
   */
  readonly rootEvents: readonly string[];
  /** The instance's config selects the event by name but its payload filter refuses it. */
  readonly filtered: boolean;
}

/** Names a Socket.IO client treats as its own events: an instance called so is not emitted by name on `/`. */
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

export const STAR = '*';

export const websocketConfigOf = (instance: Instance | undefined): WebsocketInstanceConfig | undefined =>
  instance?.channels.websocket as WebsocketInstanceConfig | undefined;

/**
 * Decides the streams of each event, from the instance's current config (an in-memory lookup per
 * event, never per socket) and `WEBSOCKET_GLOBAL_EVENTS`.
 */
export class EventRouter {
  constructor(
    private readonly instances: InstanceService,
    private readonly globalEvents: boolean,
  ) {}

  route(event: StoredEvent): Route {
    const config = websocketConfigOf(this.instances.findById(event.instanceId));
    const named = config?.enabled === true && selectedKeys(config.events).includes(event.event);
    const filtered = named && !!config.filter && !passesFilter(config.filter, event);
    const selected = named && !filtered;
    const dotted = eventName(event.event).dotted;
    const rootEvents: string[] = [];
    if ((selected || this.globalEvents) && !RESERVED.has(event.instance)) rootEvents.push(event.instance);
    // An instance may be called as an event without a dot (`call`): one emission under that name, not two.
    if (this.globalEvents && dotted !== event.instance) rootEvents.push(dotted);
    if (this.globalEvents) rootEvents.push(STAR);
    return { instanceEvent: selected ? dotted : undefined, rootEvents, filtered };
  }
}
