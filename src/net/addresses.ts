// IP address parsing and classification for the URL policy: which destinations
// are not "the public internet" (loopback, private, link-local, ...), including
// IPv4 addresses carried inside IPv6 forms (mapped, compatible, NAT64, 6to4),
// which would otherwise let http://[::ffff:127.0.0.1]/ through.

import { isIPv4, isIPv6 } from 'node:net';

/** Why an address is not a public destination; undefined from classifyAddress means public. */
export type AddressClass =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

interface Range {
  bytes: Uint8Array;
  prefix: number;
  cls: AddressClass;
}

/** First match wins, so narrower ranges come before the wider ones that contain them. */
const V4_RANGES: Range[] = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'reserved'], // documentation
  ['192.88.99.0/24', 'reserved'], // 6to4 relay anycast (deprecated)
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
].map(([cidr, cls]) => ({ ...parseCidr(cidr as string), cls: cls as AddressClass }));

const V6_RANGES: Range[] = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'], // site-local (deprecated, still routed inside some sites)
  ['fc00::/7', 'unique-local'],
  ['ff00::/8', 'multicast'],
  ['100::/64', 'reserved'], // discard-only
  ['2001:db8::/32', 'reserved'], // documentation
  ['64:ff9b:1::/48', 'private'], // local-use NAT64
].map(([cidr, cls]) => ({ ...parseCidr(cidr as string), cls: cls as AddressClass }));

/** IPv6 prefixes whose low bits carry an IPv4 address that is the real destination. */
const EMBEDDED_V4: { bytes: Uint8Array; prefix: number; at: number }[] = [
  { ...parseCidr('::ffff:0:0/96'), at: 12 }, // IPv4-mapped
  { ...parseCidr('::ffff:0:0:0/96'), at: 12 }, // IPv4-translated (SIIT)
  { ...parseCidr('64:ff9b::/96'), at: 12 }, // well-known NAT64
  { ...parseCidr('2002::/16'), at: 2 }, // 6to4
];
const V4_COMPATIBLE = parseCidr('::/96');

/**
 * Bytes of an IP address in standard notation: 4 for dotted-decimal IPv4,
 * 16 for IPv6 (brackets allowed, zone ids refused). Undefined for anything
 * else, including shorthand or encoded IPv4 (127.1, 0x7f.0.0.1, 2130706433).
 */
export function parseIp(text: string): Uint8Array | undefined {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (isIPv4(s)) return Uint8Array.from(s.split('.').map(Number));
  if (!isIPv6(s) || s.includes('%')) return undefined;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    // Dotted IPv4 tail (::ffff:127.0.0.1): two 16-bit groups.
    tail = s.slice(lastColon + 1).split('.').map(Number);
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = s.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

export function parseCidr(text: string): { bytes: Uint8Array; prefix: number } {
  const slash = text.lastIndexOf('/');
  const bytes = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  const prefixText = slash >= 0 ? text.slice(slash + 1) : undefined;
  if (!bytes || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    throw new Error(`"${text}" is not an IP network (e.g. 10.0.0.0/8 or fd00::/8)`);
  }
  const prefix = prefixText === undefined ? bytes.length * 8 : Number(prefixText);
  if (prefix > bytes.length * 8) throw new Error(`"${text}": prefix /${prefix} is too long`);
  return { bytes, prefix };
}

export function inNetwork(addr: Uint8Array, net: { bytes: Uint8Array; prefix: number }): boolean {
  if (addr.length !== net.bytes.length) return false;
  const full = net.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== net.bytes[i]) return false;
  const bits = net.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (addr[full]! & mask) === (net.bytes[full]! & mask);
}

/** The IPv4 address an IPv6 address really reaches (mapped, NAT64, 6to4), if any. */
export function embeddedIpv4(addr: Uint8Array): Uint8Array | undefined {
  if (addr.length !== 16) return undefined;
  for (const e of EMBEDDED_V4) if (inNetwork(addr, e)) return addr.slice(e.at, e.at + 4);
  return undefined;
}

/** The class of a non-public address, or undefined for a public one (or for text that is no IP). */
export function classifyAddress(ip: string | Uint8Array): AddressClass | undefined {
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  if (!addr) return undefined;
  if (addr.length === 4) return V4_RANGES.find((r) => inNetwork(addr, r))?.cls;
  const own = V6_RANGES.find((r) => inNetwork(addr, r))?.cls;
  if (own) return own;
  const v4 = embeddedIpv4(addr);
  if (v4) return classifyAddress(v4);
  // ::a.b.c.d, deprecated since 2006: nothing legitimate uses it.
  if (inNetwork(addr, V4_COMPATIBLE)) return 'reserved';
  return undefined;
}

/**
 * One spelling per address for comparisons (allowed/disallowed host lists):
 * dotted IPv4, IPv4-mapped IPv6 as its IPv4, other IPv6 as 8 full hex groups.
 */
export function canonicalIp(ip: string | Uint8Array): string | undefined {
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  if (!addr) return undefined;
  if (addr.length === 4) return addr.join('.');
  if (inNetwork(addr, EMBEDDED_V4[0]!)) return addr.slice(12).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i]! << 8) | addr[i + 1]!).toString(16));
  return groups.join(':');
}
