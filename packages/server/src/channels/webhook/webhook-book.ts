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
 * Changes instances' webhook settings one change at a time per instance: a change reads the freshest
 * instance and writes it back, so two requests (or a request and an automatic disable) never undo each other.
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

  private fresh(instanceId: string): Instance {
    const instance = this.instances.findById(instanceId);
    if (!instance) throw new PomboError('POMBO_ERR_NOT_FOUND', { resource: `The instance ${instanceId}` });
    return instance;
  }

  /** Replaces the instance's endpoints with what `change` makes of them. */
  editEndpoints(instanceId: string, change: (endpoints: WebhookEndpoint[], instance: Instance) => WebhookEndpoint[]): Promise<Instance> {
    return this.serial(instanceId, async () => {
      const instance = this.fresh(instanceId);
      return this.instances.setChannelConfig(instance, ENDPOINTS_KEY, change(endpointsOf(instance), instance));
    });
  }

  /** Changes one webhook (the default one or an endpoint); resolves to the instance and the new settings. */
  edit(instanceId: string, endpointId: string | null, change: (settings: WebhookSettings) => WebhookSettings): Promise<{ instance: Instance; settings: WebhookSettings }> {
    return this.serial(instanceId, async () => {
      const ref = { instance: this.fresh(instanceId), endpointId };
      const current = settingsOf(ref);
      if (!current) throw new PomboError('POMBO_ERR_WEBHOOK_NOT_SET', { instance: ref.instance.name });
      const settings = change(current);
      const instance =
        endpointId === null
          ? await this.instances.setChannelConfig(ref.instance, 'webhook', settings)
          : await this.instances.setChannelConfig(
              ref.instance,
              ENDPOINTS_KEY,
              endpointsOf(ref.instance).map((endpoint) => (endpoint.id === endpointId ? { ...endpoint, ...settings } : endpoint)),
            );
      return { instance, settings };
    });
  }
}
