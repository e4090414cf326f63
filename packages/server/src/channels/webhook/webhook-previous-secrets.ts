import type { WebhookSettings } from './webhook-config.ts';
import { secretKey } from './webhook-signature.ts';

/** A secret rotated out by `POST /webhook/rotate-secret`: it signs alongside the current one until `expiresAt`. */
export interface PreviousSecret {
  readonly secret: string;
  readonly expiresAt: string;
}

/**
 * How many rotated-out secrets sign at once. Rotating again during an overlap keeps the earlier secret
 * signing (its receivers may not have moved yet); past this many, the oldest stops. Each one costs an
 * HMAC per request and a signature in its `webhook-signature` header.
 */
export const MAX_PREVIOUS_SECRETS = 3;

/**
 * The rotated-out secrets still signing at `now`, newest first; none when the webhook is not signed.
 * Settings stored before several were kept hold one, as `previousSecret` and `previousSecretExpiresAt`:
 * it keeps signing until its overlap ends, as it was promised when it was rotated out.
 */
export function previousSecretsOf(settings: WebhookSettings, now = Date.now()): PreviousSecret[] {
  if (!settings.secret) return [];
  const { previousSecrets, previousSecret, previousSecretExpiresAt } = settings;
  const kept = previousSecrets ?? (previousSecret && previousSecretExpiresAt ? [{ secret: previousSecret, expiresAt: previousSecretExpiresAt }] : []);
  return kept.filter((previous) => Date.parse(previous.expiresAt) > now);
}

/** The keys of the rotated-out secrets still signing, each with the end of its overlap (ms). */
export function previousKeysOf(settings: WebhookSettings, now = Date.now()): Array<{ key: Buffer; untilMs: number }> {
  return previousSecretsOf(settings, now).flatMap(({ secret, expiresAt }) => {
    const key = secretKey(secret);
    return typeof key === 'string' ? [] : [{ key, untilMs: Date.parse(expiresAt) }];
  });
}

/** The settings with these rotated-out secrets (none: only the current secret signs), in the form stored now. */
export function withPreviousSecrets(settings: WebhookSettings, previousSecrets: PreviousSecret[]): WebhookSettings {
  const { previousSecret: _oneSecret, previousSecretExpiresAt: _oneExpiry, ...rest } = settings;
  return { ...rest, previousSecrets };
}
