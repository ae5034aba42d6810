// Real Swift for integration tests: the all-in-one of scripts/backends/swift-saio.sh
// (tempauth proxy, plus a Keystone proxy with `start-keystone`), reused when its
// variables are set (SWIFT_AUTH_URL..., SWIFT_KS_*); a raw client that sees the
// server's state independently of the driver; and a TCP relay that breaks
// connections on purpose.

import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { resolve } from 'node:path';
import { ensureKeystone, REPO_ROOT } from './keystone.js';
import { onExit } from './cleanup.js';
import { s3Backend } from '../integration/backends.js';

export const SWIFT_DEBS =
  'swift swift-proxy swift-account swift-container swift-object memcached python3-swiftclient python3-keystonemiddleware';
const SCRIPT = resolve(REPO_ROOT, 'scripts/backends/swift-saio.sh');

/** One Swift account reachable with v1 (tempauth, radosgw) or Keystone v3 credentials. */
export interface SwiftAccountEnv {
  name: string;
  authUrl: string;
  authVersion: '1' | '3';
  /** v1: X-Auth-User; v3: project:user (Glance's form). */
  user: string;
  key: string;
}

export function saio(...args: string[]): string {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    throw new Error(
      `scripts/backends/swift-saio.sh ${args.join(' ')} failed (exit ${r.status ?? r.signal}); real Swift is needed for this test.\n` +
        `Debian packages: ${SWIFT_DEBS}\n` +
        `  install: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${SWIFT_DEBS}\n${r.stderr}${r.stdout}`,
    );
  }
  return r.stdout;
}

let owned = false;
/**
 * Before a start: when the SAIO is not running yet, this process starts it and stops it
 * (all of it, both proxies) when it ends (helpers/cleanup.ts); one found running is left.
 */
function ownSaioIfStopped(): void {
  if (owned) return;
  if (spawnSync('bash', [SCRIPT, 'status'], { stdio: 'ignore' }).status === 0) return;
  owned = true;
  onExit(() => void spawnSync('bash', [SCRIPT, 'stop'], { stdio: 'ignore', timeout: 60_000 }));
}

function envOf(out: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

/** The tempauth account (test:tester), from the environment or a started SAIO. */
export function ensureSwiftTempauth(): SwiftAccountEnv & { saio: boolean } {
  const e = process.env;
  if (e.SWIFT_AUTH_URL && e.SWIFT_USER && e.SWIFT_KEY) {
    return { name: 'tempauth', authUrl: e.SWIFT_AUTH_URL, authVersion: '1', user: e.SWIFT_USER, key: e.SWIFT_KEY, saio: false };
  }
  ownSaioIfStopped();
  saio('start');
  const v = envOf(saio('env'));
  return { name: 'tempauth', authUrl: v.SWIFT_AUTH_URL!, authVersion: '1', user: v.SWIFT_USER!, key: v.SWIFT_KEY!, saio: true };
}

/** The Keystone account (service:imago-swift) behind the SAIO's Keystone proxy. */
export function ensureSwiftKeystone(): SwiftAccountEnv & { proxyUrl: string } {
  const e = process.env;
  if (e.SWIFT_KS_AUTH_URL && e.SWIFT_KS_USER && e.SWIFT_KS_KEY && e.SWIFT_KS_PROXY_URL) {
    return { name: 'keystone', authUrl: e.SWIFT_KS_AUTH_URL, authVersion: '3', user: e.SWIFT_KS_USER, key: e.SWIFT_KS_KEY, proxyUrl: e.SWIFT_KS_PROXY_URL };
  }
  // Keystone first, through its helper, so that a Keystone started for this is stopped afterwards too.
  ensureKeystone();
  ownSaioIfStopped();
  saio('start-keystone');
  const v = envOf(saio('env'));
  return { name: 'keystone', authUrl: v.SWIFT_KS_AUTH_URL!, authVersion: '3', user: v.SWIFT_KS_USER!, key: v.SWIFT_KS_KEY!, proxyUrl: v.SWIFT_KS_PROXY_URL! };
}

/**
 * radosgw's Swift API: from RGW_SWIFT_AUTH_URL/USER/KEY when set, else from a ceph-mini
 * started now (scripts/backends/ceph-mini.sh), which `stop` shuts down afterwards.
 */
export function rgwAccount(): { account: SwiftAccountEnv; stop: () => void } {
  const e = process.env;
  if (e.RGW_SWIFT_AUTH_URL && e.RGW_SWIFT_USER && e.RGW_SWIFT_KEY) {
    return { account: { name: 'radosgw', authUrl: e.RGW_SWIFT_AUTH_URL, authVersion: '1', user: e.RGW_SWIFT_USER, key: e.RGW_SWIFT_KEY }, stop: () => undefined };
  }
  const ceph = s3Backend();
  if (!ceph.swift) throw new Error('ceph-mini did not report its Swift API credentials');
  return { account: { name: 'radosgw', authUrl: ceph.swift.authUrl, authVersion: '1', user: ceph.swift.user, key: ceph.swift.key }, stop: () => ceph.stop() };
}

/** A Swift client of its own (fetch, no driver code): what the server really holds. */
export class RawSwift {
  private constructor(
    readonly token: string,
    readonly storageUrl: string,
  ) {}

  static async connect(a: SwiftAccountEnv): Promise<RawSwift> {
    if (a.authVersion === '1') {
      const r = await fetch(a.authUrl, { headers: { 'X-Auth-User': a.user, 'X-Auth-Key': a.key } });
      if (!r.ok) throw new Error(`v1 auth at ${a.authUrl}: ${r.status}`);
      return new RawSwift(r.headers.get('x-auth-token')!, r.headers.get('x-storage-url')!);
    }
    const [project, user] = a.user.split(':');
    const base = a.authUrl.replace(/\/+$/, '').replace(/\/v3$/, '');
    const r = await fetch(`${base}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password: a.key } } },
          scope: { project: { name: project, domain: { id: 'default' } } },
        },
      }),
    });
    if (r.status !== 201) throw new Error(`keystone auth: ${r.status}`);
    const body = (await r.json()) as { token: { catalog: { type: string; endpoints: { interface: string; url: string }[] }[] } };
    const url = body.token.catalog.find((s) => s.type === 'object-store')!.endpoints.find((e) => e.interface === 'public')!.url;
    return new RawSwift(r.headers.get('x-subject-token')!, url);
  }

  static withToken(token: string, storageUrl: string): RawSwift {
    return new RawSwift(token, storageUrl);
  }

  url(path: string): string {
    const base = this.storageUrl.replace(/\/+$/, '');
    return path === '' || path.startsWith('?') ? `${base}${path}` : `${base}/${path}`;
  }

  async call(method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Response> {
    return fetch(this.url(path), { method, headers: { 'X-Auth-Token': this.token, ...init.headers }, body: init.body });
  }

  /** Object names with a prefix ([] when the container does not exist). */
  async list(container: string, prefix = ''): Promise<string[]> {
    const names: string[] = [];
    let marker = '';
    for (;;) {
      const r = await this.call('GET', `${encodeURIComponent(container)}?format=json&prefix=${encodeURIComponent(prefix)}&marker=${encodeURIComponent(marker)}`);
      if (r.status === 404) return names;
      if (r.status === 204) return names;
      if (r.status !== 200) throw new Error(`list ${container}: ${r.status}`);
      const page = (await r.json()) as { name: string }[];
      if (page.length === 0) return names;
      names.push(...page.map((o) => o.name));
      marker = page[page.length - 1]!.name;
    }
  }

  async containers(prefix = ''): Promise<string[]> {
    const r = await this.call('GET', `?format=json&prefix=${encodeURIComponent(prefix)}`);
    if (r.status === 204) return [];
    return ((await r.json()) as { name: string }[]).map((c) => c.name);
  }

  async exists(path: string): Promise<boolean> {
    const r = await this.call('HEAD', path);
    return r.status >= 200 && r.status < 300;
  }

  async put(path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<void> {
    const r = await this.call('PUT', path, { body, headers });
    if (r.status !== 201 && r.status !== 202) throw new Error(`PUT ${path}: ${r.status} ${await r.text()}`);
  }

  async remove(path: string): Promise<void> {
    await this.call('DELETE', path);
  }
}

export interface RelayOptions {
  /** Cut a connection once it has carried this many bytes back to the client (GET bodies). */
  cutDownAfter?: number;
  /** Cut a connection once it has carried this many bytes to the server (PUT bodies). */
  cutUpAfter?: number;
  /** How many connections to cut (then the relay only relays). */
  cuts: number;
}

/** A TCP relay to host:port that breaks connections midway, as a flaky network would. */
export class Relay {
  cutCount = 0;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly opts: RelayOptions,
  ) {}

  static async start(target: { host: string; port: number }, opts: RelayOptions): Promise<Relay> {
    let relay: Relay | undefined;
    const server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      relay!.sockets.add(client).add(upstream);
      let down = 0;
      let up = 0;
      const cut = () => {
        if (relay!.cutCount >= relay!.opts.cuts) return false;
        relay!.cutCount++;
        client.resetAndDestroy();
        upstream.destroy();
        return true;
      };
      upstream.on('data', (d: Buffer) => {
        down += d.length;
        if (relay!.opts.cutDownAfter !== undefined && down > relay!.opts.cutDownAfter && cut()) return;
        client.write(d);
      });
      client.on('data', (d: Buffer) => {
        up += d.length;
        if (relay!.opts.cutUpAfter !== undefined && up > relay!.opts.cutUpAfter && cut()) return;
        upstream.write(d);
      });
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    relay = new Relay(server, (server.address() as net.AddressInfo).port, opts);
    return relay;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}
