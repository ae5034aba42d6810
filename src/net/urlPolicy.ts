// The one URL policy every outbound fetch goes through (http store reads,
// web-download, glance-download, location validation). It implements Glance's
// [import_filtering_opts] (allowed/disallowed schemes, hosts and ports; an
// allow list, when set, wins over its deny list) plus the SSRF fixes Glance
// added over the years (bugs 2138602, 2158998, 2161330) and a few more:
//
// - the URL must be written plainly: `scheme://host...`, no whitespace,
//   control characters or backslashes, and the host exactly as a URL parser
//   reads it, so 127.1, 0x7f.1, 0177.0.0.1, 2130706433, %31... and fullwidth
//   digits are refused rather than silently turned into 127.0.0.1;
// - the port checked is the effective one (http://h/ is port 80), so
//   disallowed_ports = 80 cannot be sidestepped by leaving the port out;
// - hostnames are resolved once; the URL is refused if ANY address is
//   loopback, private, link-local, unique-local, CGNAT, multicast,
//   unspecified, reserved, or an IPv6 form of one of those (mapped, NAT64,
//   6to4). Listing the host name or the address in allowed_hosts, an address
//   in imago_allowed_networks, or a caller's allowPrivate lifts that (never
//   for unspecified/multicast/broadcast, which are no destinations).
//   Unlike Glance, RFC 1918 ranges are blocked too: private clouds list their
//   mirrors' networks in imago_allowed_networks;
// - host lists match the name as parsed, and IP entries also match the
//   addresses a name resolves to; allowed_hosts passes a URL when its host is
//   listed or every address it resolves to is;
// - the checked addresses are returned so the caller connects to exactly
//   those (see safeFetch.ts): no second DNS answer can swap in another.

import { lookup } from 'node:dns/promises';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/options.js';
import { canonicalIp, classifyAddress, inNetwork, parseCidr, parseIp, type AddressClass } from './addresses.js';

/** Glance's [import_filtering_opts], plus imago_allowed_networks. */
export interface ImportFilteringRules {
  allowedSchemes: string[];
  disallowedSchemes: string[];
  allowedHosts: string[];
  disallowedHosts: string[];
  allowedPorts: number[];
  disallowedPorts: number[];
  /** CIDR networks whose non-public addresses are reachable (imago extension). */
  allowedNetworks: string[];
}

export const DEFAULT_IMPORT_FILTERING: Readonly<ImportFilteringRules> = Object.freeze({
  allowedSchemes: ['http', 'https'],
  disallowedSchemes: [],
  allowedHosts: [],
  disallowedHosts: [],
  allowedPorts: [80, 443],
  disallowedPorts: [],
  allowedNetworks: [],
});

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (tests inject their own). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface UrlPolicyOptions {
  /** Reach non-public addresses for this caller (e.g. a Keystone catalog endpoint). */
  allowPrivate?: boolean;
  resolver?: Resolver;
  /** Give up resolving after this long (default 10 s). */
  resolveTimeoutMs?: number;
}

export type UrlPolicyReason = 'invalid' | 'scheme' | 'host' | 'port' | 'address' | 'resolve';

/** A URL the policy refuses. The message is safe to show the user; `url` has no credentials. */
export class UrlPolicyError extends Error {
  constructor(
    readonly reason: UrlPolicyReason,
    message: string,
    readonly url: string,
    /** The offending resolved address, for logs only (not in the message: it would leak internal DNS). */
    readonly address?: string,
  ) {
    super(message);
  }
}

/** A URL that passed every rule, with the addresses a connection may use. */
export interface CheckedUrl {
  url: URL;
  /** Host name without IPv6 brackets or trailing dot. */
  hostname: string;
  port: number;
  addresses: ResolvedAddress[];
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ftp: 21, ws: 80, wss: 443 };
/** Classes never lifted by allowPrivate or allowed networks: they are not destinations. */
const NEVER_DESTINATIONS = new Set<AddressClass>(['unspecified', 'multicast', 'broadcast']);

/** The URL with user:password removed, for messages and logs. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(url.toString());
    if (!u.username && !u.password) return u.href;
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return String(url).replace(/\/\/[^/@?#]*@/, '//***@');
  }
}

/** [import_filtering_opts] from glance-api.conf, validated. */
export function importFilteringFrom(config: Config): ImportFilteringRules {
  const s = config.section('import_filtering_opts');
  const d = DEFAULT_IMPORT_FILTERING;
  const ports = (key: string, def: number[]): number[] =>
    s.list(key, def.map(String)).map((p) => {
      const n = /^\d+$/.test(p) ? Number(p) : NaN;
      if (!(n >= 1 && n <= 65535)) throw new ConfigError(`[import_filtering_opts] ${key}: "${p}" is not a port`);
      return n;
    });
  const hosts = (key: string): string[] =>
    s.list(key, []).map((h) => {
      if (!parseIp(h) && !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i.test(h)) {
        throw new ConfigError(`[import_filtering_opts] ${key}: "${h}" is not a host name or IP address`);
      }
      return h;
    });
  const networks = s.list('imago_allowed_networks', []);
  for (const n of networks) {
    try {
      parseCidr(n);
    } catch (e) {
      throw new ConfigError(`[import_filtering_opts] imago_allowed_networks: ${(e as Error).message}`);
    }
  }
  return {
    allowedSchemes: s.list('allowed_schemes', d.allowedSchemes).map((x) => x.toLowerCase()),
    disallowedSchemes: s.list('disallowed_schemes', d.disallowedSchemes).map((x) => x.toLowerCase()),
    allowedHosts: hosts('allowed_hosts'),
    disallowedHosts: hosts('disallowed_hosts'),
    allowedPorts: ports('allowed_ports', d.allowedPorts),
    disallowedPorts: ports('disallowed_ports', d.disallowedPorts),
    allowedNetworks: networks,
  };
}

/** A host list split into names and canonical IPs, for matching a host and its addresses. */
class HostList {
  private readonly names = new Set<string>();
  private readonly ips = new Set<string>();
  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const ip = canonicalIp(e);
      if (ip) this.ips.add(ip);
      else this.names.add(normalizeName(e));
    }
  }
  get empty(): boolean {
    return this.names.size === 0 && this.ips.size === 0;
  }
  hasHost(hostname: string): boolean {
    const ip = canonicalIp(hostname);
    return ip ? this.ips.has(ip) : this.names.has(normalizeName(hostname));
  }
  hasAddress(address: string): boolean {
    const ip = canonicalIp(address);
    return ip !== undefined && this.ips.has(ip);
  }
}

function normalizeName(h: string): string {
  return h.toLowerCase().replace(/\.$/, '');
}

async function systemResolver(hostname: string): Promise<ResolvedAddress[]> {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

export class UrlPolicy {
  readonly rules: Readonly<ImportFilteringRules>;
  private readonly allowedHosts: HostList;
  private readonly disallowedHosts: HostList;
  private readonly networks: { bytes: Uint8Array; prefix: number }[];

  constructor(
    rules: Partial<ImportFilteringRules> = {},
    private readonly opts: UrlPolicyOptions = {},
  ) {
    const r = { ...DEFAULT_IMPORT_FILTERING, ...rules };
    // As Glance: when both an allow list and a deny list are set, only the allow list counts.
    this.rules = Object.freeze({
      ...r,
      allowedSchemes: r.allowedSchemes.map((x) => x.toLowerCase()),
      disallowedSchemes: r.allowedSchemes.length ? [] : r.disallowedSchemes.map((x) => x.toLowerCase()),
      disallowedHosts: r.allowedHosts.length ? [] : r.disallowedHosts,
      disallowedPorts: r.allowedPorts.length ? [] : r.disallowedPorts,
    });
    this.allowedHosts = new HostList(this.rules.allowedHosts);
    this.disallowedHosts = new HostList(this.rules.disallowedHosts);
    this.networks = this.rules.allowedNetworks.map(parseCidr);
  }

  /** The same rules with other per-caller options (e.g. allowPrivate for a trusted endpoint). */
  withOptions(opts: UrlPolicyOptions): UrlPolicy {
    return new UrlPolicy(this.rules, { ...this.opts, ...opts });
  }

  /** Every check that needs no network: syntax, scheme, host spelling, port, disallowed host names. */
  checkSyntax(input: string): URL {
    const fail = (reason: UrlPolicyReason, msg: string): never => {
      throw new UrlPolicyError(reason, msg, redactUrl(input));
    };
    if (typeof input !== 'string' || input === '') return fail('invalid', 'the URL is empty');
    // URL parsers drop tabs/newlines and read "\" as "/" in http URLs; other
    // parsers do not. Refuse what could be read two ways.
    if (/[\u0000-\u0020\u007f\\]/.test(input)) {
      return fail('invalid', 'the URL contains whitespace, control characters or backslashes');
    }
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(input);
    if (!m) return fail('invalid', 'the URL must have the form scheme://host/path');
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      return fail('invalid', 'the URL is not valid');
    }
    const scheme = url.protocol.slice(0, -1);
    const { allowedSchemes, disallowedSchemes, allowedPorts, disallowedPorts } = this.rules;
    if ((allowedSchemes.length && !allowedSchemes.includes(scheme)) || disallowedSchemes.includes(scheme)) {
      return fail('scheme', `the scheme "${scheme}" is not allowed`);
    }

    const authority = m[2]!;
    const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
    const rawHost = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.split(':')[0]!;
    if (rawHost === '' || url.hostname === '') return fail('invalid', 'the URL has no host');
    if (rawHost.includes('%')) return fail('host', `the host "${rawHost}" contains percent-encoding`);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (!rawHost.startsWith('[')) {
      const parsedAsIpv4 = parseIp(hostname)?.length === 4;
      if (parsedAsIpv4 && rawHost !== hostname) {
        return fail('host', `the host "${rawHost}" is an abbreviated or encoded IPv4 address; write it as a.b.c.d`);
      }
      if (/^[\x00-\x7f]*$/.test(rawHost) && rawHost.toLowerCase() !== hostname) {
        return fail('host', `the host "${rawHost}" is not written the way it is read ("${hostname}")`);
      }
      if (/^[0-9.]+$/.test(hostname) && !parsedAsIpv4) return fail('host', `the host "${rawHost}" is not a valid address`);
    }

    const port = url.port ? Number(url.port) : DEFAULT_PORTS[scheme];
    if (port === undefined || port < 1 || port > 65535) return fail('port', 'the URL has no usable port');
    if ((allowedPorts.length && !allowedPorts.includes(port)) || disallowedPorts.includes(port)) {
      return fail('port', `the port ${port} is not allowed`);
    }
    if (this.disallowedHosts.hasHost(hostname)) return fail('host', `the host "${hostname}" is not allowed`);
    return url;
  }

  /**
   * What can be judged when a request arrives, without DNS: checkSyntax(), plus the address
   * checks when the host is an IP literal. Names are resolved, and judged, by the fetch itself
   * (web-download of an unresolvable name is accepted and fails in its task, as Tempest expects).
   */
  async checkWithoutDns(input: string): Promise<URL> {
    const url = this.checkSyntax(input);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (parseIp(host)) await this.check(input);
    return url;
  }

  /**
   * Every check, with DNS: the URL passes when checkSyntax does, the host is
   * allowed, and every address it resolves to is an allowed destination.
   * Returns the addresses to connect to.
   */
  async check(input: string, opts: { signal?: AbortSignal | undefined } = {}): Promise<CheckedUrl> {
    const url = this.checkSyntax(input);
    const redacted = redactUrl(url);
    const asWritten = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const hostname = normalizeName(asWritten);
    const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol.slice(0, -1)]!;
    const literal = parseIp(hostname);
    // Resolve the name as written: a trailing dot means "no search domains".
    const addresses = literal
      ? [{ address: hostname, family: literal.length === 4 ? 4 : 6 } as ResolvedAddress]
      : await this.resolve(asWritten, redacted, opts.signal);

    const fail = (reason: UrlPolicyReason, msg: string, address?: string): never => {
      throw new UrlPolicyError(reason, msg, redacted, address);
    };
    const what = literal ? `the address ${hostname}` : `the host "${hostname}"`;
    if (!this.allowedHosts.empty && !this.allowedHosts.hasHost(hostname)) {
      if (literal || !addresses.every((a) => this.allowedHosts.hasAddress(a.address))) {
        fail('host', `${what} is not in the allowed hosts`);
      }
    }
    for (const a of addresses) {
      if (this.disallowedHosts.hasAddress(a.address)) fail('host', `${what} is not allowed`, a.address);
      const cls = classifyAddress(a.address);
      if (cls && !this.reachable(hostname, a.address, cls)) {
        fail('address', `${what} ${literal ? 'is' : 'resolves to'} ${article(cls)} ${cls} address, which is not allowed`, a.address);
      }
    }
    return { url, hostname, port, addresses };
  }

  private reachable(hostname: string, address: string, cls: AddressClass): boolean {
    // The operator named this very host or address: trust it, whatever it is.
    if (this.allowedHosts.hasHost(hostname) || this.allowedHosts.hasAddress(address)) return true;
    if (NEVER_DESTINATIONS.has(cls)) return false;
    if (this.opts.allowPrivate) return true;
    const bytes = parseIp(address)!;
    return this.networks.some((n) => inNetwork(bytes, n));
  }

  private async resolve(hostname: string, redacted: string, signal: AbortSignal | undefined): Promise<ResolvedAddress[]> {
    signal?.throwIfAborted();
    const resolver = this.opts.resolver ?? systemResolver;
    const timeoutMs = this.opts.resolveTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      // getaddrinfo cannot be cancelled: stop waiting for it instead.
      const stop = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UrlPolicyError('resolve', `resolving "${hostname}" timed out`, redacted)), timeoutMs);
        onAbort = () => reject(signal!.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      const found = await Promise.race([resolver(hostname), stop]);
      if (found.length === 0) throw new UrlPolicyError('resolve', `the host "${hostname}" has no address`, redacted);
      return found;
    } catch (e) {
      if (e instanceof UrlPolicyError || signal?.aborted) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new UrlPolicyError('resolve', `the host "${hostname}" could not be resolved (${code})`, redacted);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }
}

function article(cls: AddressClass): string {
  return /^(a|e|i|o|un)/.test(cls) ? 'an' : 'a';
}
