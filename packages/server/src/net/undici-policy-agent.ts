import { Agent, buildConnector } from 'undici';
import { unbracketed, type OutboundAddressPolicy } from './outbound-address-policy.ts';

/** Connection errors that come back at once: the next address of the host is tried. */
const FAST_FAILURES = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/**
 * An undici connector that resolves the host itself, checks every address, and connects to the
 * checked one: what was checked is what is connected to, so a DNS answer that changes between the
 * check and the connection (rebinding) cannot slip through.
 */
function policyConnector(policy: OutboundAddressPolicy, base: buildConnector.connector): buildConnector.connector {
  return (options, callback) => {
    const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
    policy.checkedAddresses(unbracketed(options.hostname), port).then(
      (addresses) => {
        // An address that fails at once (unreachable, refused) hands over to the next one, all of them checked.
        const attempt = (index: number): void => {
          base({ ...options, hostname: addresses[index] as string }, (error, socket) => {
            const code = (error as NodeJS.ErrnoException | null)?.code;
            if (error && index + 1 < addresses.length && code && FAST_FAILURES.has(code)) return attempt(index + 1);
            if (error) return callback(error, null);
            callback(null, socket as NonNullable<typeof socket>);
          });
        };
        attempt(0);
      },
      (error: unknown) => callback(error as Error, null),
    );
  };
}

/**
 * An undici Agent whose every connection goes through the address policy (resolved, checked, and
 * connected to the checked address), with `timeoutMs` for connecting, the headers and the body.
 * The one way Pombo builds an undici Agent that posts to a URL someone configured.
 */
export function policyAgent(policy: OutboundAddressPolicy, timeoutMs: number, options: Agent.Options = {}): Agent {
  return new Agent({
    ...options,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: policyConnector(policy, buildConnector({ timeout: timeoutMs })),
  });
}
