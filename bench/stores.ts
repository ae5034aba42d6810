// Upload and download throughput of the store drivers, with the process's peak RSS.
//
//   npm run build && node dist/bench/stores.js [--sizes 256,1024] [--stores file,s3,s3-put,swift,swift-put,rbd]
//
// file: a temp folder (under $BENCH_DIR or the OS temp dir). s3: multipart with Glance's
// defaults (10 MiB parts, 10 in flight), size unknown; s3-put: size known and below the
// threshold, one streamed PUT. S3 comes from S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY, else a
// ceph-mini is started (bluestore unless CEPH_MINI_OBJECTSTORE says otherwise: memstore would
// keep every byte in RAM) and stopped afterwards. swift: the all-in-one Swift of
// scripts/backends/swift-saio.sh (started if needed), SLO with 200 MiB segments, size unknown;
// swift-put: size known, one streamed PUT. rbd: the rbd store (8 MiB chunks, size known) on a
// ceph-mini (bluestore; scripts/backends/ceph-mini.sh, started if CEPH_CONF/CEPH_MINI_DIR name
// none), beside `rbd import` / `rbd export` of the same bytes in the same run: the rows give
// the store's speed as a ratio of the CLI's (issue 9's target: >= 0.9 both ways).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { FileStore } from '../src/stores/file.js';
import { S3Store } from '../src/stores/s3.js';
import { SwiftStore } from '../src/stores/swift.js';
import type { Store, WriteOptions } from '../src/stores/store.js';
import { RbdStore } from '../src/stores/rbd/store.js';
import { rbdBackend, s3Backend, s3StoreOptions, type S3Backend } from '../test/integration/backends.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';

const MiB = 1 << 20;

interface Row {
  store: string;
  sizeMiB: number;
  uploadMiBs: number;
  downloadMiBs: number;
  peakRssMiB: number;
  rssGrowthMiB: number;
}

/** Samples RSS every 20 ms while `fn` runs. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peak: number; base: number }> {
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, peak, base };
  } finally {
    clearInterval(timer);
  }
}

/** The 1 MiB of data every upload repeats (the CLI rows read a file of it). */
const UPLOAD_UNIT = randomBytes(MiB);

async function upload(store: Store, size: number, wopts: WriteOptions): Promise<{ url: string; seconds: number }> {
  const buf = UPLOAD_UNIT;
  const t0 = performance.now();
  const w = await store.createWriter(randomUUID(), wopts);
  try {
    for (let n = 0; n < size; n += MiB) await w.write(buf);
    const c = await w.commit();
    return { url: c.url, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    await w.abort();
    throw e;
  }
}

async function download(store: Store, url: string): Promise<{ bytes: number; seconds: number }> {
  const t0 = performance.now();
  const { stream } = await store.open(url);
  let bytes = 0;
  for await (const c of stream) bytes += (c as Buffer).length;
  return { bytes, seconds: (performance.now() - t0) / 1000 };
}

async function bench(name: string, store: Store, sizeMiB: number, wopts: WriteOptions): Promise<Row> {
  const size = sizeMiB * MiB;
  const up = await withPeakRss(() => upload(store, size, wopts));
  const down = await withPeakRss(() => download(store, up.value.url));
  if (down.value.bytes !== size) throw new Error(`${name}: read ${down.value.bytes} bytes, wrote ${size}`);
  await store.delete(up.value.url);
  const peak = Math.max(up.peak, down.peak);
  return {
    store: name,
    sizeMiB,
    uploadMiBs: sizeMiB / up.value.seconds,
    downloadMiBs: sizeMiB / down.value.seconds,
    peakRssMiB: peak / MiB,
    rssGrowthMiB: (peak - up.base) / MiB,
  };
}

function table(rows: Row[]): string {
  const head = ['store', 'size MiB', 'upload MiB/s', 'download MiB/s', 'peak RSS MiB', 'RSS growth MiB'];
  const body = rows.map((r) => [
    r.store,
    String(r.sizeMiB),
    // ratios (< 10) with two decimals; NaN: not measured (another process)
    r.uploadMiBs < 10 ? r.uploadMiBs.toFixed(2) : r.uploadMiBs.toFixed(0),
    r.downloadMiBs < 10 ? r.downloadMiBs.toFixed(2) : r.downloadMiBs.toFixed(0),
    Number.isNaN(r.peakRssMiB) ? '' : r.peakRssMiB.toFixed(0),
    Number.isNaN(r.rssGrowthMiB) ? '' : r.rssGrowthMiB.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sizes: { type: 'string', default: '256,1024' }, stores: { type: 'string', default: 'file,s3,s3-put,swift,swift-put,rbd' } },
  });
  const sizes = values.sizes.split(',').map(Number);
  const wanted = new Set(values.stores.split(','));
  const rows: Row[] = [];

  if (wanted.has('file')) {
    const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'imago-bench-'));
    const store = new FileStore({ id: 'file', dirs: [{ path: dir, priority: 0 }], filePerm: 0, chunkSize: 65536, thinProvisioning: false, locationMetadata: {} });
    await store.init();
    try {
      for (const s of sizes) rows.push(await bench('file', store, s, {}));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  if (wanted.has('s3') || wanted.has('s3-put')) {
    process.env.CEPH_MINI_OBJECTSTORE ??= 'bluestore';
    const be: S3Backend = s3Backend();
    if (be.startMs !== undefined) console.error(`ceph-mini started in ${(be.startMs / 1000).toFixed(1)} s`);
    const bucket = 'imago-bench'; // fixed: runs against an external S3 leave no trail of buckets
    const make = (largeObjectSize: number) =>
      new S3Store(s3StoreOptions(be, bucket, { largeObjectSize, partSize: 10 * MiB, threadPools: 10 }));
    try {
      if (wanted.has('s3')) {
        const store = make(100 * MiB);
        for (const s of sizes) rows.push(await bench('s3 multipart (10×10 MiB)', store, s, {}));
        await store.close();
      }
      if (wanted.has('s3-put')) {
        const store = make(4096 * MiB);
        for (const s of sizes) rows.push(await bench('s3 single PUT', store, s, { sizeHint: s * MiB }));
        await store.close();
      }
    } finally {
      be.stop();
    }
  }
  if (wanted.has('swift') || wanted.has('swift-put')) {
    const script = resolve(import.meta.dirname, '../../scripts/backends/swift-saio.sh');
    if (spawnSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] }).status !== 0) throw new Error('swift-saio.sh start failed');
    const env = Object.fromEntries(
      execFileSync('bash', [script, 'env'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.replace(/^export /, '').split(/=(.*)/s).slice(0, 2) as [string, string]),
    );
    const store = new SwiftStore({
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
      references: new Map([['ref1', { authAddress: env.SWIFT_AUTH_URL!, authVersion: '1', user: env.SWIFT_USER!, key: env.SWIFT_KEY! }]]),
      locationMetadata: {},
    });
    if (wanted.has('swift')) for (const s of sizes) rows.push(await bench('swift SLO (200 MiB segments)', store, s, {}));
    if (wanted.has('swift-put')) for (const s of sizes) rows.push(await bench('swift single PUT', store, s, { sizeHint: s * MiB }));
    await store.close();
  }
  if (wanted.has('rbd')) rows.push(...(await benchRbd(sizes)));
  console.log(table(rows));
}

/** The rbd store and, for each size, `rbd import` of a file of the same bytes and `rbd export` of it. */
async function benchRbd(sizes: number[]): Promise<Row[]> {
  const be = rbdBackend({ objectstore: (process.env.CEPH_MINI_OBJECTSTORE as 'memstore' | 'bluestore' | undefined) ?? 'bluestore' });
  if (be.startMs !== undefined) console.error(`ceph-mini (RBD) started in ${(be.startMs / 1000).toFixed(1)} s`);
  const store = new RbdStore({ id: 'rbd', pool: be.pool, user: be.user, cephConf: be.conf, chunkSize: 8 * MiB, thinProvisioning: false, connectTimeout: 0, locationMetadata: {} });
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'imago-bench-rbd-'));
  const rows: Row[] = [];
  try {
    await store.init();
    for (const s of sizes) {
      const file = join(dir, 'image.raw');
      const fd = openSync(file, 'w');
      for (let i = 0; i < s; i++) writeSync(fd, UPLOAD_UNIT);
      closeSync(fd);
      const cli = (args: string[]) => {
        const t0 = performance.now();
        const r = spawnSync('rbd', ['-c', be.conf, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        if (r.status !== 0) throw new Error(`rbd ${args.join(' ')}: ${r.stderr}`);
        return (performance.now() - t0) / 1000;
      };
      const name = `${be.pool}/bench-cli-${randomUUID()}`;
      const up = cli(['import', '--no-progress', file, name]);
      const down = cli(['export', '--no-progress', name, '-']);
      cli(['rm', '--no-progress', name]);
      await rm(file, { force: true });
      const cliRow = { store: 'rbd import / rbd export (CLI)', sizeMiB: s, uploadMiBs: s / up, downloadMiBs: s / down, peakRssMiB: NaN, rssGrowthMiB: NaN };
      const row = await bench('rbd store (8 MiB chunks)', store, s, { sizeHint: s * MiB });
      rows.push(cliRow, row, {
        store: 'rbd store / CLI',
        sizeMiB: s,
        uploadMiBs: row.uploadMiBs / cliRow.uploadMiBs,
        downloadMiBs: row.downloadMiBs / cliRow.downloadMiBs,
        peakRssMiB: NaN,
        rssGrowthMiB: NaN,
      });
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
    be.stop();
  }
  return rows;
}

await main();
