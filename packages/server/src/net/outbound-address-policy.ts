import type { Server } from 'node:http';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isLocal, nonPublicReason } from './non-public-address.ts';

/**
 * Where a host a tenant chose (a webhook URL, a per-instance Pusher server) may not lead Pombo (SSRF):
 * addresses that are not on the public Internet, unless the variable that lifts it is true
 * (WEBHOOK_ALLOW_PRIVATE_NETWORKS, PUSHER_ALLOW_PRIVATE_NETWORKS), and Pombo itself, always. Checked
 * on the address a connection is actually made to, after DNS (undici-policy-agent.ts,
 * node-policy-agents.ts), so a name that resolves (or rebinds) to such an address is refused too.
 */

export const unbracketed = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
const portOf = (url: URL): number => Number(url.port) || (url.protocol === 'https:' ? 443 : 80);

/** The port a server listens on, once it does (for `listenPort`: a request to it is Pombo calling itself). */
export function listeningPort(server: Server | undefined): number | undefined {
  const address = server?.address();
  return typeof address === 'object' && address ? address.port : undefined;
}

interface AddressPolicyOptions {
  allowPrivateNetworks: boolean;
  /** The variable that sets `allowPrivateNetworks`, named in refusals (`WEBHOOK_ALLOW_PRIVATE_NETWORKS`). */
  variable: string;
  /** What the policy applies to, for refusals: `webhooks reach public addresses only`. */
  subject: string;
  /** SERVER_URL: a connection to it is Pombo calling itself. */
  serverUrl: string;
  /** The port Pombo listens on, once it does. */
  listenPort(): number | undefined;
  /** Resolves a host name to every address it has (DNS by default; tests give their own). */
  resolve?(host: string): Promise<Array<{ address: string }>>;
}

/** IPv4 first (as Node did before it raced families): a host with an AAAA record and no IPv6 route still works. */
const resolveAll = (host: string): Promise<Array<{ address: string }>> => lookup(host, { all: true, verbatim: false });

/** How long a check made when a URL is set waits for DNS: a resolver that does not answer must not hold the request. */
const LOOKUP_AT_SET_MS = 3000;

/** The code of an AddressRefused, which a client that wraps errors keeps (the Pusher library's fetch). */
export const ADDRESS_REFUSED = 'POMBO_ADDRESS_REFUSED';

/** A connection refused by the policy: the delivery is dead, with this reason. */
export class AddressRefused extends Error {
  readonly code = ADDRESS_REFUSED;
}

export class OutboundAddressPolicy {
  private readonly server: URL;

  constructor(private readonly options: AddressPolicyOptions) {
    this.server = new URL(options.serverUrl);
  }

  /** Why a connection to `address`:`port` is refused (the address written out: its URL names it), or undefined. */
  refusal(address: string, port: number): string | undefined {
    const what = this.refusedAs(address, port);
    return what && `${address} is ${what}`;
  }

  /**
   * What a refused `address`:`port` is (`a private address; …`, `Pombo itself …`), without the address:
   * where a name led to it, the tenant who set the host is told what kind of address it was, never
   * which one (an instance token must not map the operator's internal names to addresses).
   */
  private refusedAs(address: string, port: number): string | undefined {
    if (port === this.options.listenPort() && isLocal(address)) return `Pombo itself (port ${port})`;
    if (this.options.allowPrivateNetworks) return undefined;
    const reason = nonPublicReason(address);
    return reason && `${reason}; ${this.options.subject} reach public addresses only (${this.options.variable}=false)`;
  }

  /** The refusal of a connection to a literal `address`:`port`, or undefined when it may be made. */
  refusedLiteral(address: string, port: number): AddressRefused | undefined {
    const reason = this.refusal(address, port);
    return reason ? new AddressRefused(`refused: ${reason}`) : undefined;
  }

  /** Why a URL is refused before any DNS: Pombo's own URL, or a literal address the policy refuses. */
  urlRefusal(url: URL): string | undefined {
    if (url.hostname.toLowerCase() === this.server.hostname.toLowerCase() && portOf(url) === portOf(this.server)) {
      return `${url.host} is Pombo itself (SERVER_URL)`;
    }
    const host = unbracketed(url.hostname);
    return isIP(host) ? this.refusal(host, portOf(url)) : undefined;
  }

  /**
   * Every address `host` (a name or a literal address) leads to, each checked: AddressRefused when
   * any is refused (the connection goes to one of these, so what was checked is what is connected to).
   */
  async checkedAddresses(host: string, port: number): Promise<string[]> {
    if (isIP(host)) {
      const refused = this.refusedLiteral(host, port);
      if (refused) throw refused;
      return [host];
    }
    const addresses = await this.addressesOf(host);
    const refused = this.nameRefusal(host, addresses, port);
    if (refused) throw new AddressRefused(`refused: ${refused}`);
    if (!addresses.length) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
    return addresses;
  }

  /**
   * Why a URL whose host is a name is refused by the addresses the name has now, or undefined: what a
   * connection would be refused, told when the URL is set rather than by dead deliveries. A name that
   * does not resolve (yet), or not within LOOKUP_AT_SET_MS, is not refused: each connection is checked anyway.
   */
  async resolvedUrlRefusal(url: URL): Promise<string | undefined> {
    const host = unbracketed(url.hostname);
    if (isIP(host)) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string[]>((resolve) => {
      timer = setTimeout(resolve, LOOKUP_AT_SET_MS, []);
    });
    const addresses = await Promise.race([this.addressesOf(host).catch(() => []), late]).finally(() => clearTimeout(timer));
    return this.nameRefusal(host, addresses, portOf(url));
  }

  private async addressesOf(host: string): Promise<string[]> {
    return (await (this.options.resolve ?? resolveAll)(host)).map(({ address }) => address);
  }

  /** Why the name `host`, resolving to `addresses`, is refused (any refused address refuses it), or undefined. */
  private nameRefusal(host: string, addresses: readonly string[], port: number): string | undefined {
    const refused = addresses.map((address) => this.refusedAs(address, port)).find((reason) => reason !== undefined);
    return refused && `${host} resolves to ${refused}`;
  }
}
