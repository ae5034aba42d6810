// Real servers for integration tests, started from scripts/backends/ (or reused when the
// environment already names one). A missing server is a failure with a clear message, never a skip.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3StoreOptions } from '../../src/stores/s3.js';
import { onExit } from '../helpers/cleanup.js';

/** The repository root: the nearest folder above this file with a package.json (works from dist/ too). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.trim().split('\n')) {
    const m = /^export ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export interface S3Backend {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /** radosgw's Swift API on the same gateway (tempauth-style v1 auth), when known. */
  swift?: { authUrl: string; user: string; key: string };
  /** Kills radosgw alone (fault tests); throws when the endpoint is not a ceph-mini we can control. */
  stopGateway(): void;
  startGateway(): void;
  /** Stops the cluster if this process started it. */
  stop(): void;
  startedHere: boolean;
  /** Wall time of `ceph-mini.sh start` when started here. */
  startMs?: number;
}

/** S3 store options for a bucket on this backend (path-style, checksums only where S3 requires them). */
export function s3StoreOptions(be: S3Backend, bucket: string, over: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    id: 's3',
    endpoint: be.endpoint,
    region: be.region,
    accessKey: be.accessKey,
    secretKey: be.secretKey,
    bucket,
    createBucketOnPut: true,
    pathStyle: true,
    largeObjectSize: 8 * 1024 * 1024,
    partSize: 5 * 1024 * 1024,
    threadPools: 3,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    locationMetadata: {},
    ...over,
  };
}

const CEPH_PACKAGES = 'ceph-mon ceph-osd radosgw ceph-common s3cmd';

/**
 * S3 from S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY when set, else a ceph-mini started now
 * (CEPH_MINI_DIR / CEPH_MINI_MON_PORT / CEPH_MINI_RGW_PORT pick its folder and ports).
 */
export function s3Backend(): S3Backend {
  const script = join(repoRoot(), 'scripts/backends/ceph-mini.sh');
  const run = (arg: string, env: NodeJS.ProcessEnv = process.env) =>
    execFileSync('bash', [script, arg], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env });
  const control = (dir: string | undefined) => {
    if (!dir) {
      throw new Error('S3_ENDPOINT is set but CEPH_MINI_DIR is not: the fault tests can only stop and restart a ceph-mini radosgw');
    }
    return { ...process.env, CEPH_MINI_DIR: dir };
  };

  if (process.env.S3_ENDPOINT) {
    const need = (k: string) => {
      const v = process.env[k];
      if (!v) throw new Error(`S3_ENDPOINT is set but ${k} is not`);
      return v;
    };
    const dir = process.env.CEPH_MINI_DIR;
    return {
      endpoint: process.env.S3_ENDPOINT,
      accessKey: need('S3_ACCESS_KEY'),
      secretKey: need('S3_SECRET_KEY'),
      region: process.env.S3_REGION ?? 'us-east-1',
      ...(process.env.RGW_SWIFT_AUTH_URL && process.env.RGW_SWIFT_USER && process.env.RGW_SWIFT_KEY
        ? { swift: { authUrl: process.env.RGW_SWIFT_AUTH_URL, user: process.env.RGW_SWIFT_USER, key: process.env.RGW_SWIFT_KEY } }
        : {}),
      stopGateway: () => void run('rgw-stop', control(dir)),
      startGateway: () => void run('rgw-start', control(dir)),
      stop: () => undefined,
      startedHere: false,
    };
  }

  const missing = ['ceph', 'ceph-mon', 'ceph-osd', 'radosgw', 'ceph-authtool', 'monmaptool', 'curl'].filter((c) => !onPath(c));
  if (missing.length) {
    throw new Error(
      `Ceph is not installed (missing: ${missing.join(', ')}), so the S3 store cannot be tested. ` +
        `Install it with: apt-get install -y --no-install-recommends ${CEPH_PACKAGES} ` +
        `or point S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY at a running S3 server.`,
    );
  }
  const env = { ...process.env, CEPH_MINI_SELFTEST: process.env.CEPH_MINI_SELFTEST ?? '0' };
  const t0 = performance.now();
  // `start` wipes and starts a cluster of its own: it is stopped when this process ends,
  // whatever happens, unless stop() did it first.
  const forget = onExit(() => void spawnSync('bash', [script, 'stop'], { stdio: 'ignore', env, timeout: 60_000 }));
  try {
    run('start', env);
  } catch (e) {
    throw new Error(`ceph-mini failed to start (its log tails are above): ${(e as Error).message}`);
  }
  const startMs = performance.now() - t0;
  const vars = parseEnv(run('env', env));
  return {
    endpoint: vars.S3_ENDPOINT!,
    accessKey: vars.S3_ACCESS_KEY!,
    secretKey: vars.S3_SECRET_KEY!,
    region: vars.S3_REGION ?? 'us-east-1',
    swift: { authUrl: vars.RGW_SWIFT_AUTH_URL!, user: vars.RGW_SWIFT_USER!, key: vars.RGW_SWIFT_KEY! },
    stopGateway: () => void run('rgw-stop', env),
    startGateway: () => void run('rgw-start', env),
    stop: () => {
      run('stop', env);
      forget();
    },
    startedHere: true,
    startMs,
  };
}

export interface RbdBackend {
  /** ceph.conf naming the monitors and the keyrings of client.admin and client.glance. */
  conf: string;
  pool: string;
  /** The cephx user Glance deployments give the store (profile rbd on the pool). */
  user: string;
  /** That user's keyring file. */
  keyring: string;
  fsid: string;
  /** Runs the real `rbd` CLI as client.admin; returns stdout. */
  rbd(args: string[], input?: Buffer): Buffer;
  /** Freezes / thaws the OSD (SIGSTOP/SIGCONT): a stuck cluster for fault tests. */
  pauseOsd(): void;
  resumeOsd(): void;
  stop(): void;
  startedHere: boolean;
  startMs?: number;
}

/**
 * RBD on a ceph-mini (RBD only, no radosgw) started now, or the one CEPH_CONF + CEPH_MINI_DIR
 * name. CEPH_MINI_DIR / CEPH_MINI_MON_PORT / CEPH_MINI_OSD_PORT pick its folder and ports.
 */
export function rbdBackend(opts: { objectstore?: 'memstore' | 'bluestore' } = {}): RbdBackend {
  const script = join(repoRoot(), 'scripts/backends/ceph-mini.sh');
  // `ceph-mini.sh env` exports the admin keyring for the CLIs, and librados reads CEPH_KEYRING
  // for any user: the store's client.glance would present the admin key and be refused
  for (const k of ['CEPH_KEYRING', 'CEPH_CLIENT_ID', 'CEPH_ARGS']) delete process.env[k];
  let env: NodeJS.ProcessEnv = { ...process.env, CEPH_MINI_RGW: '0', CEPH_MINI_SELFTEST: process.env.CEPH_MINI_SELFTEST ?? '0' };
  if (opts.objectstore) env.CEPH_MINI_OBJECTSTORE = opts.objectstore;
  const run = (arg: string) => execFileSync('bash', [script, arg], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env });
  let startedHere = false;
  let startMs: number | undefined;
  if (!(process.env.CEPH_CONF && process.env.CEPH_MINI_DIR)) {
    const missing = ['ceph', 'ceph-mon', 'ceph-osd', 'rbd', 'ceph-authtool', 'monmaptool'].filter((c) => !onPath(c));
    if (missing.length) {
      throw new Error(
        `Ceph is not installed (missing: ${missing.join(', ')}), so the rbd store cannot be tested. ` +
          `Install it with: apt-get install -y --no-install-recommends ${CEPH_PACKAGES}`,
      );
    }
    const t0 = performance.now();
    try {
      run('start');
    } catch (e) {
      throw new Error(`ceph-mini failed to start (its log tails are above): ${(e as Error).message}`);
    }
    startMs = performance.now() - t0;
    startedHere = true;
    env = { ...env, ...parseEnv(run('env')) };
  }
  const conf = env.CEPH_CONF!;
  const rbd = (args: string[], input?: Buffer) =>
    execFileSync('rbd', ['-c', conf, ...args], { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
  const fsid = execFileSync('ceph', ['-c', conf, '--connect-timeout', '20', 'fsid'], { encoding: 'utf8' }).trim();
  return {
    conf,
    pool: env.RBD_POOL ?? 'images',
    user: env.RBD_USER ?? 'glance',
    keyring: env.RBD_KEYRING ?? join(dirname(conf), 'ceph.client.glance.keyring'),
    fsid,
    rbd,
    pauseOsd: () => void run('osd-pause'),
    resumeOsd: () => void run('osd-resume'),
    stop: () => {
      if (startedHere) run('stop');
    },
    startedHere,
    ...(startMs !== undefined ? { startMs } : {}),
  };
}
