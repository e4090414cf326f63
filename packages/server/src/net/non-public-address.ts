import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which IP addresses are not on the public Internet (loopback, private, link-local, …, also as an
 * IPv4 address inside an IPv6 one), and which of them are this machine's: what the outbound address
 * policy (outbound-address-policy.ts) refuses.
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

/** Whether Pombo's machine answers on the address: loopback, unspecified, or one of its interfaces (also as an IPv4 inside IPv6). */
export function isLocal(address: string): boolean {
  const reason = nonPublicReason(address);
  if (reason?.startsWith('a loopback') || reason?.startsWith('an unspecified')) return true;
  const bytes = isIP(address) === 6 ? ipv6Bytes(address) : undefined;
  const inner = bytes && embeddedIpv4(bytes);
  return Object.values(networkInterfaces()).some((list) => list?.some((entry) => entry.address === address || entry.address === inner));
}
