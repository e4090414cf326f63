import { Agent, buildConnector } from 'undici';
import type { WebhookAddressPolicy } from './webhook-address.ts';

/**
 * An undici Agent whose every connection goes through the address policy (resolved, checked, and
 * connected to the checked address), with `timeoutMs` for connecting, the headers and the body.
 * The one way Pombo builds an Agent that posts to a URL someone configured.
 */
export function policyAgent(policy: WebhookAddressPolicy, timeoutMs: number, options: Agent.Options = {}): Agent {
  return new Agent({
    ...options,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: policy.connector(buildConnector({ timeout: timeoutMs })),
  });
}
