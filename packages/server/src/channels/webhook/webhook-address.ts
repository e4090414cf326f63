import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { buildConnector } from 'undici';

/**
 * Where webhooks may not go (SSRF): addresses that are not on the public Internet, unless
 * WEBHOOK_ALLOW_PRIVATE_NETWORKS, and Pombo itself, always. Checked on the address a connection is
 * actually made to, after DNS, so a name that resolves (or rebinds) to such an address is refused too.
 */

/** Non-public ranges, each with what a person is told. */
const RANGES: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified address'],
  ['10.0.0.0', 8, 'ipv4', 'a private address'],
  ['100.64.0.0', 10, 'ipv4', 'a carrier-grade NAT address'],
  ['127.0.0.0', 8, 'ipv4', 'a loopback address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address (cloud metadata services live at 169.254.169.254)'],
  ['172.16.0.0', 12, 'ipv4', 'a private address'],
  ['192.0.0.0', 24, 'ipv4', 'a reserved address'],
  ['192.0.2.0', 24, 'ipv4', 'a documentation address'],
  ['192.168.0.0', 16, 'ipv4', 'a private address'],
  ['198.18.0.0', 15, 'ipv4', 'a benchmarking address'],
  ['198.51.100.0', 24, 'ipv4', 'a documentation address'],
  ['203.0.113.0', 24, 'ipv4', 'a documentation address'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved address'],
  ['::', 128, 'ipv6', 'an unspecified address'],
  ['::1', 128, 'ipv6', 'a loopback address'],
  ['100::', 64, 'ipv6', 'a discard address'],
  ['2001::', 32, 'ipv6', 'a Teredo tunnel address'],
  ['2001:db8::', 32, 'ipv6', 'a documentation address'],
  ['fc00::', 7, 'ipv6', 'a private (unique local) address'],
  ['fe80::', 10, 'ipv6', 'a link-local address'],
  ['fec0::', 10, 'ipv6', 'a site-local address'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
];

const LISTS = RANGES.map(([network, prefix, family, reason]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { list, family, reason };
});

/** The 16 bytes of an IPv6 address (a trailing dotted IPv4 allowed), or undefined if it is not one. */
function ipv6Bytes(text: string): number[] | undefined {
  if (isIP(text) !== 6) return undefined;
  let head = text;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    for (const part of dotted.split('.')) tail.push(Number(part));
    head = text.slice(0, -dotted.length) + '0:0';
  }
  const [left = '', right] = head.split('::');
  const words = (side: string) => (side === '' ? [] : side.split(':').map((word) => Number.parseInt(word, 16)));
  const leftWords = words(left);
  const rightWords = right === undefined ? [] : words(right);
  const all = [...leftWords, ...new Array(8 - leftWords.length - rightWords.length).fill(0), ...rightWords];
  const bytes = all.flatMap((word) => [word >> 8, word & 0xff]);
  if (dotted) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The IPv4 address an IPv6 one carries (IPv4-mapped, -compatible, NAT64, 6to4), if any. */
function embeddedIpv4(bytes: readonly number[]): string | undefined {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  const quad = (at: number) => bytes.slice(at, at + 4).join('.');
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return quad(12); // ::ffff:a.b.c.d
  if (zeros(0, 12)) return quad(12); // ::a.b.c.d (and :: / ::1, which the ranges name first)
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) return quad(12); // 64:ff9b::/96, 64:ff9b:1::/48
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return quad(2); // 2002:abcd:efgh::/16 (6to4)
  return undefined;
}

/** Why an IP address is not public (a phrase), or undefined when it is. */
export function nonPublicReason(address: string): string | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const direct = LISTS.find(({ list, family: listed }) => listed === type && list.check(address, type));
  if (direct) return direct.reason;
  if (family === 6) {
    const bytes = ipv6Bytes(address);
    const inner = bytes && embeddedIpv4(bytes);
    // `::` itself is named by the ranges above; `::ffff:0.0.0.0` is not, and reaches this machine.
    if (inner) {
      const reason = nonPublicReason(inner);
      if (reason) return `${reason} inside an IPv6 address (${inner})`;
    }
  }
  return undefined;
}

const unbracketed = (host: string): string => (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host);
const portOf = (url: URL): number => Number(url.port) || (url.protocol === 'https:' ? 443 : 80);

/** Whether Pombo's machine answers on the address: loopback, unspecified, or one of its interfaces (also as an IPv4 inside IPv6). */
function isLocal(address: string): boolean {
  const reason = nonPublicReason(address);
  if (reason?.startsWith('a loopback') || reason?.startsWith('an unspecified')) return true;
  const bytes = isIP(address) === 6 ? ipv6Bytes(address) : undefined;
  const inner = bytes && embeddedIpv4(bytes);
  return Object.values(networkInterfaces()).some((list) => list?.some((entry) => entry.address === address || entry.address === inner));
}

/** Connection errors that come back at once: the next address of the host is tried. */
const FAST_FAILURES = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

export interface AddressPolicyOptions {
  allowPrivateNetworks: boolean;
  /** SERVER_URL: a webhook to it is Pombo calling itself. */
  serverUrl: string;
  /** The port Pombo listens on, once it does. */
  listenPort(): number | undefined;
  /** Resolves a host name to every address it has (DNS by default; tests give their own). */
  resolve?(host: string): Promise<Array<{ address: string }>>;
}

/** IPv4 first (as Node did before it raced families): a host with an AAAA record and no IPv6 route still works. */
const resolveAll = (host: string): Promise<Array<{ address: string }>> => lookup(host, { all: true, verbatim: false });

/** A connection refused by the policy: the delivery is dead, with this reason. */
export class AddressRefused extends Error {
  readonly code = 'POMBO_WEBHOOK_ADDRESS_REFUSED';
}

export class WebhookAddressPolicy {
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
   * where a name led to it, the tenant who set the URL is told what kind of address it was, never
   * which one (an instance token must not map the operator's internal names to addresses).
   */
  private refusedAs(address: string, port: number): string | undefined {
    if (port === this.options.listenPort() && isLocal(address)) return `Pombo itself (port ${port})`;
    if (this.options.allowPrivateNetworks) return undefined;
    const reason = nonPublicReason(address);
    return reason && `${reason}; webhooks reach public addresses only (WEBHOOK_ALLOW_PRIVATE_NETWORKS=false)`;
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
   * An undici connector that resolves the host itself, checks every address, and connects to the
   * checked one: what was checked is what is connected to, so a DNS answer that changes between the
   * check and the connection (rebinding) cannot slip through.
   */
  connector(base: buildConnector.connector): buildConnector.connector {
    return (options, callback) => {
      const host = unbracketed(options.hostname);
      const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
      const refuse = (reason: string) => callback(new AddressRefused(`refused: ${reason}`), null);
      const go = (address: string) => {
        const reason = this.refusal(address, port);
        if (reason) return refuse(reason);
        base({ ...options, hostname: address }, callback);
      };
      if (isIP(host)) return go(host);
      (this.options.resolve ?? resolveAll)(host).then(
        (addresses) => {
          const refused = addresses.map(({ address }) => this.refusedAs(address, port)).find((reason) => reason !== undefined);
          if (refused) return refuse(`${host} resolves to ${refused}`);
          if (!addresses.length) return callback(Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }), null);
          // An address that fails at once (unreachable, refused) hands over to the next one, all of them checked.
          const attempt = (index: number): void => {
            base({ ...options, hostname: (addresses[index] as { address: string }).address }, (error, socket) => {
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
}
