// npm run bench:swift: upload and download MB/s through the swift store against
// the all-in-one Swift of scripts/backends/swift-saio.sh (started if needed),
// beside curl moving the same bytes to the same proxy (the machine's limit here).
// Sizes: BENCH_SWIFT_SIZES (MiB, default "256,1024").

import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SwiftStore, type SwiftStoreOptions } from '../src/stores/swift.js';
import type { SwiftCredentials } from '../src/stores/swift/config.js';

const MiB = 1 << 20;
const SCRIPT = resolve(import.meta.dirname, '../../scripts/backends/swift-saio.sh');
const sizes = (process.env.BENCH_SWIFT_SIZES ?? '256,1024').split(',').map((s) => Number(s) * MiB);

function saioEnv(cmd: string): Record<string, string> {
  const r = spawnSync('bash', [SCRIPT, cmd], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`swift-saio.sh ${cmd} failed`);
  const out = execFileSync('bash', [SCRIPT, 'env'], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.replace(/^export /, '').split(/=(.*)/s).slice(0, 2) as [string, string]));
}

const env = saioEnv(process.env.BENCH_SWIFT_KEYSTONE === '0' ? 'start' : 'start-keystone');
const tempauth: SwiftCredentials = { authAddress: env.SWIFT_AUTH_URL!, authVersion: '1', user: env.SWIFT_USER!, key: env.SWIFT_KEY! };
const keystone: SwiftCredentials = {
  authAddress: env.SWIFT_KS_AUTH_URL!,
  authVersion: '3',
  user: env.SWIFT_KS_USER!,
  key: env.SWIFT_KS_KEY!,
  userDomainId: 'default',
  projectDomainId: 'default',
};

function store(creds: SwiftCredentials, over: Partial<SwiftStoreOptions> = {}): SwiftStore {
  return new SwiftStore({
    id: 'swift',
    container: 'imago-bench',
    createContainerOnPut: true,
    largeObjectSize: 5120 * MiB,
    largeObjectChunkSize: 200 * MiB,
    multipleContainersSeed: 0,
    multiTenant: false,
    adminTenants: [],
    retryGetCount: 0,
    expireSoonInterval: 60,
    insecure: false,
    endpointType: 'publicURL',
    serviceType: 'object-store',
    defaultReference: 'ref1',
    references: new Map([['ref1', creds]]),
    locationMetadata: {},
    ...over,
  });
}

// incompressible, cheap: a 16 MiB random block written again and again (1 MiB writes, as ingest does)
const block = Buffer.alloc(16 * MiB);
for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);

const mbps = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(0);

async function throughDriver(s: SwiftStore, size: number, hinted: boolean): Promise<{ up: number; down: number }> {
  const id = randomUUID();
  let t = performance.now();
  const w = await s.createWriter(id, hinted ? { sizeHint: size } : {});
  for (let off = 0; off < size; off += MiB) {
    const at = off % block.length;
    await w.write(block.subarray(at, at + Math.min(MiB, size - off)));
  }
  const c = await w.commit();
  const up = performance.now() - t;
  t = performance.now();
  const o = await s.open(c.url);
  let n = 0;
  for await (const chunk of o.stream) n += (chunk as Buffer).length;
  const down = performance.now() - t;
  if (n !== size) throw new Error(`read ${n} of ${size}`);
  await s.delete(c.url);
  return { up, down };
}

async function throughCurl(size: number, dir: string): Promise<{ up: number; down: number }> {
  const file = join(dir, `data-${size}`);
  const fh = await open(file, 'w');
  for (let off = 0; off < size; off += block.length) await fh.write(block, 0, Math.min(block.length, size - off));
  await fh.close();
  const auth = execFileSync('curl', ['-sf', '-D', '-', '-o', '/dev/null', '-H', `X-Auth-User: ${tempauth.user}`, '-H', `X-Auth-Key: ${tempauth.key}`, tempauth.authAddress], { encoding: 'utf8' });
  const token = /x-auth-token: (\S+)/i.exec(auth)![1]!;
  const url = `${/x-storage-url: (\S+)/i.exec(auth)![1]}/imago-bench/curl-${randomUUID()}`;
  let t = performance.now();
  execFileSync('curl', ['-sf', '-X', 'PUT', '-H', `X-Auth-Token: ${token}`, '-T', file, url]);
  const up = performance.now() - t;
  t = performance.now();
  execFileSync('curl', ['-sf', '-H', `X-Auth-Token: ${token}`, '-o', '/dev/null', url]);
  const down = performance.now() - t;
  execFileSync('curl', ['-sf', '-X', 'DELETE', '-H', `X-Auth-Token: ${token}`, url]);
  rmSync(file);
  return { up, down };
}

const rows: string[][] = [['size', 'how', 'upload MB/s', 'download MB/s']];
const dir = mkdtempSync(join(tmpdir(), 'imago-bench-swift-'));
try {
  for (const size of sizes) {
    const label = `${size / MiB} MiB`;
    const cases: [string, SwiftStore, boolean][] = [
      ['tempauth, size known: one PUT', store(tempauth), true],
      ['tempauth, size unknown: SLO, 200 MiB segments', store(tempauth), false],
      ['tempauth, SLO, 64 MiB segments', store(tempauth, { largeObjectChunkSize: 64 * MiB }), false],
      ['tempauth, SLO 200 MiB, swift_buffer_on_upload', store(tempauth, { uploadBufferDir: dir }), false],
      ...(env.SWIFT_KS_AUTH_URL && process.env.BENCH_SWIFT_KEYSTONE !== '0'
        ? ([['keystone v3, SLO, 200 MiB segments', store(keystone), false]] as [string, SwiftStore, boolean][])
        : []),
    ];
    for (const [how, s, hinted] of cases) {
      const r = await throughDriver(s, size, hinted);
      rows.push([label, how, mbps(size, r.up), mbps(size, r.down)]);
      await s.close();
      console.error(`  ${label} ${how}: done`);
    }
    const c = await throughCurl(size, dir);
    rows.push([label, 'curl, one PUT / GET (limit)', mbps(size, c.up), mbps(size, c.down)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  '));
