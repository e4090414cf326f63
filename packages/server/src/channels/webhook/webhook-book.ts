import { PomboError, excerpt } from '../../core/errors.ts';
import type { InstanceService } from '../../instances/instance-service.ts';
import type { Instance } from '../../store/types.ts';
import { endpointWebhook, instanceWebhook, type WebhookEndpoint, type WebhookSettings } from './webhook-config.ts';

/** The instance's `channels` key of its additional endpoints (the default webhook stays under `webhook`). */
const ENDPOINTS_KEY = 'webhookEndpoints';

/** One webhook of an instance: its default one (the seed's `/webhook/set`, `endpointId` null) or one of its endpoints. */
export interface WebhookRef {
  readonly instance: Instance;
  readonly endpointId: string | null;
}

export const endpointsOf = (instance: Instance): WebhookEndpoint[] => (instance.channels[ENDPOINTS_KEY] as WebhookEndpoint[] | undefined) ?? [];

export const defaultOf = (instance: Instance): WebhookSettings | undefined => instance.channels.webhook as WebhookSettings | undefined;

export const destinationOf = (ref: WebhookRef): string =>
  ref.endpointId === null ? instanceWebhook(ref.instance.id) : endpointWebhook(ref.instance.id, ref.endpointId);

/** The settings of one webhook; a 404 naming the endpoint when the instance has no such endpoint. */
export function settingsOf(ref: WebhookRef): WebhookSettings | undefined {
  if (ref.endpointId === null) return defaultOf(ref.instance);
  const endpoint = endpointsOf(ref.instance).find((candidate) => candidate.id === ref.endpointId);
  if (!endpoint) throw new PomboError('POMBO_ERR_NOT_FOUND', { resource: `The webhook endpoint "${excerpt(ref.endpointId)}" of "${ref.instance.name}"` });
  return endpoint;
}

/**
 * Changes instances' webhook settings. Each change is made to the instance as stored when it is written
 * (InstanceService.editChannels), so two requests, on one node or on two nodes of a cluster, or a request
 * and an automatic disable, never undo each other. Changes of one instance also wait for each other
 * here: those waiting queue in memory instead of each going round the store's compare-and-set against
 * the others, and this node's copy of the instance takes them in the order they were made.
 */
export class WebhookBook {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly instances: InstanceService) {}

  private serial<T>(instanceId: string, change: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(instanceId) ?? Promise.resolve();
    const next = previous.then(change, change);
    const settled = next.catch(() => undefined);
    this.queues.set(instanceId, settled);
    void settled.then(() => {
      if (this.queues.get(instanceId) === settled) this.queues.delete(instanceId);
    });
    return next;
  }

  /** Replaces the instance's endpoints with what `change` makes of them. */
  editEndpoints(instanceId: string, change: (endpoints: WebhookEndpoint[], instance: Instance) => WebhookEndpoint[]): Promise<Instance> {
    return this.serial(instanceId, () => this.instances.editChannels(instanceId, (stored) => ({ [ENDPOINTS_KEY]: change(endpointsOf(stored), stored) })));
  }

  /** Changes one webhook (the default one or an endpoint); resolves to the instance and the new settings. */
  edit(instanceId: string, endpointId: string | null, change: (settings: WebhookSettings) => WebhookSettings): Promise<{ instance: Instance; settings: WebhookSettings }> {
    return this.serial(instanceId, async () => {
      let settings: WebhookSettings | undefined;
      const instance = await this.instances.editChannels(instanceId, (stored) => {
        const current = settingsOf({ instance: stored, endpointId });
        if (!current) throw new PomboError('POMBO_ERR_WEBHOOK_NOT_SET', { instance: stored.name });
        const changed = change(current);
        settings = changed;
        if (endpointId === null) return { webhook: changed };
        return { [ENDPOINTS_KEY]: endpointsOf(stored).map((endpoint) => (endpoint.id === endpointId ? { ...endpoint, ...changed } : endpoint)) };
      });
      return { instance, settings: settings as WebhookSettings };
    });
  }
}
