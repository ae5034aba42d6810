// npm run bench: imago's data path and API throughput, each beside this
// machine's own limit measured in the same run (hashing the same file; cp).
// Prints a table; figures are ratios on purpose: machines are shared and noisy.

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';

const run = promisify(execFile);
const GiB = 1 << 30;
const SIZE = Number(process.env.BENCH_SIZE ?? GiB);
const CLI = resolve(import.meta.dirname, '../src/cli/main.js');
/** Data-path figures are the median of this many runs, each beside its own limit measurement. */
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));

interface Row {
  what: string;
  imago: string;
  limit?: string;
  ratio?: string;
  target?: string;
}
const rows: Row[] = [];
const mbps = (bytes: number, seconds: number) => bytes / seconds / 1e6;
const fmt = (n: number, unit: string) => `${n.toFixed(n >= 100 ? 0 : 1)} ${unit}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function makeFile(path: string, size: number): Promise<void> {
  // Incompressible but cheap to produce: a 16 MiB random block repeated.
  const block = Buffer.alloc(16 << 20);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
  const fh = await open(path, 'w');
  for (let off = 0; off < size; off += block.length) await fh.write(block, 0, Math.min(block.length, size - off));
  await fh.close();
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const v = await fn();
  return [v, Number(process.hrtime.bigint() - t) / 1e9];
}

/** The machine's own limit for what an upload must do: read the bytes once, md5 and sha512 them. */
async function hashLimit(path: string): Promise<number> {
  const [, s] = await timed(async () => {
    const a = createHash('md5');
    const b = createHash('sha512');
    for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) {
      a.update(c);
      b.update(c);
    }
    a.digest();
    b.digest();
  });
  return mbps(SIZE, s);
}

async function startServer(dataDir: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const proc = spawn(process.execPath, ['--max-semi-space-size=1', CLI, 'serve', '--bind-port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /on (http:\/\/\S+)/.exec(out);
      if (m) res(m[1]!);
    });
    proc.on('exit', (c) => rej(new Error(`server exited ${c}`)));
  });
  return {
    url,
    pid: proc.pid!,
    stop: async () => {
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}

function rssMiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function json(url: string, init?: RequestInit): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- bench reads API JSON
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? undefined : r.json();
}

const create = (url: string, body: object = {}) =>
  json(`${url}/v2/images`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ disk_format: 'raw', container_format: 'bare', ...body }) });

async function load(url: string, opts: { connections: number; duration: number; method?: string; body?: string; headers?: Record<string, string> }) {
  const r = await autocannon({ url, connections: opts.connections, duration: opts.duration, method: (opts.method ?? 'GET') as 'GET', body: opts.body, headers: opts.headers });
  if (r.non2xx) throw new Error(`${url}: ${r.non2xx} non-2xx answers`);
  return { rps: r.requests.average, p99: r.latency.p99 };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'imago-bench-'));
  const file = join(work, 'image.bin');
  try {
    console.log(`bench: ${SIZE / GiB} GiB test file in ${work}`);
    await makeFile(file, SIZE);
    await run('sh', ['-c', 'cat "$0" >/dev/null', file]); // in the page cache, as a hot image would be

    const server = await startServer(join(work, 'data'));
    const { url } = server;
    try {
      // Upload: curl streams the file (chunked off, Content-Length on), as clients do. Each run
      // is measured right after the limit, so both see the same machine load.
      const ups: number[] = [];
      const limitsHash: number[] = [];
      let img: { id: string } | undefined;
      for (let i = 0; i < REPEAT; i++) {
        limitsHash.push(await hashLimit(file));
        if (img) await json(`${url}/v2/images/${img.id}`, { method: 'DELETE' });
        const id = (img = await create(url)).id;
        const [, s] = await timed(() => run('curl', ['-sS', '-f', '-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '-T', file, `${url}/v2/images/${id}/file`]));
        ups.push(mbps(SIZE, s));
      }
      const [up, limitHash] = [median(ups), median(limitsHash)];
      if (process.env.BENCH_VERBOSE) console.log(`upload MB/s ${ups.map((x) => x.toFixed(0)).join(" ")}; limit ${limitsHash.map((x) => x.toFixed(0)).join(" ")}`);
      rows.push({ what: `upload ${SIZE / GiB} GiB (median of ${REPEAT})`, imago: fmt(up, 'MB/s'), limit: `${fmt(limitHash, 'MB/s')} (read+md5+sha512)`, ratio: (up / limitHash).toFixed(2), target: '>= 0.9' });

      const downs: number[] = [];
      const limitsCp: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        const [, cpSeconds] = await timed(() => run('cp', [file, join(work, 'copy.bin')]));
        rmSync(join(work, 'copy.bin'));
        limitsCp.push(mbps(SIZE, cpSeconds));
        const [, s] = await timed(() => run('curl', ['-sS', '-f', '-o', '/dev/null', `${url}/v2/images/${img!.id}/file`]));
        downs.push(mbps(SIZE, s));
      }
      const [down, limitCp] = [median(downs), median(limitsCp)];
      // The memory that could grow with image size: peak over the big uploads and downloads.
      const afterData = rssMiB(server.pid);
      rows.push({ what: `download ${SIZE / GiB} GiB (median of ${REPEAT})`, imago: fmt(down, 'MB/s'), limit: `${fmt(limitCp, 'MB/s')} (cp)`, ratio: (down / limitCp).toFixed(2), target: 'Glance ~1100 MB/s' });

      for (const c of [1, 32]) {
        const r = await load(`${url}/v2/images/${img!.id}`, { connections: c, duration: 5 });
        rows.push({ what: `GET image c=${c}`, imago: `${fmt(r.rps, 'req/s')}, p99 ${r.p99} ms`, ratio: c === 32 ? (r.rps / 146).toFixed(1) + 'x Glance' : undefined, target: c === 32 ? '>= 10x Glance (146 req/s, p99 1.3 s)' : undefined });
      }

      // Fill to 2,000 images, then page 1,000 at a time.
      const need = Math.max(0, 2000 - (await countImages(url)));
      for (let i = 0; i < need; i += 50) await Promise.all(Array.from({ length: Math.min(50, need - i) }, (_, k) => create(url, { name: `fill-${i + k}`, os_distro: 'bench', tags: ['a', 'b'] })));
      const total = await countImages(url);
      const list = await load(`${url}/v2/images?limit=1000`, { connections: 4, duration: 5 });
      rows.push({ what: `list 1000/page (${total} images)`, imago: `${fmt(list.rps, 'req/s')}, p99 ${list.p99} ms`, ratio: (list.rps / 2.5).toFixed(0) + 'x Glance', target: '>= 10x Glance (2.5 req/s)' });

      const createLoad = await load(`${url}/v2/images`, { connections: 16, duration: 5, method: 'POST', body: JSON.stringify({ name: 'bench', disk_format: 'raw', container_format: 'bare' }), headers: { 'Content-Type': 'application/json' } });
      rows.push({ what: 'create c=16', imago: `${fmt(createLoad.rps, '/s')}, p99 ${createLoad.p99} ms`, ratio: (createLoad.rps / 35).toFixed(1) + 'x Glance', target: 'Glance 35/s' });

      const mem = rssMiB(server.pid);
      rows.push({ what: `server RSS, peak over the ${SIZE / GiB} GiB upload+download`, imago: `${afterData.hwm.toFixed(0)} MiB`, target: '< 150 MiB whatever the image size; Glance ~470 MiB' });
      rows.push({ what: 'server RSS, peak over the whole run', imago: `${mem.hwm.toFixed(0)} MiB (now ${mem.rss.toFixed(0)})`, target: 'includes 1000-image pages at c=4' });
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const w = (k: keyof Row) => Math.max(k.length, ...rows.map((r) => (r[k] ?? '').length));
  const cols: (keyof Row)[] = ['what', 'imago', 'limit', 'ratio', 'target'];
  const line = (r: Partial<Record<keyof Row, string>>) => cols.map((c) => (r[c] ?? '').padEnd(w(c))).join(' | ');
  console.log(line({ what: 'what', imago: 'imago', limit: 'machine limit', ratio: 'ratio', target: 'target' }));
  console.log(cols.map((c) => '-'.repeat(w(c))).join('-|-'));
  for (const r of rows) console.log(line(r));
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(rows, null, 2));

  // Each store driver beside the file store (real S3 and Swift servers, started by their scripts).
  if (process.env.BENCH_STORES !== '0') {
    console.log('\nstore drivers (upload and download through the driver alone):');
    const r = spawn(process.execPath, [resolve(import.meta.dirname, 'stores.js'), '--sizes', process.env.BENCH_STORE_SIZES ?? '256'], { stdio: 'inherit' });
    const code = await new Promise<number | null>((res) => r.on('exit', res));
    if (code !== 0) throw new Error(`bench/stores.js exited with ${code}`);
  }
}

async function countImages(url: string): Promise<number> {
  let n = 0;
  let next: string | undefined = '/v2/images?limit=1000';
  while (next) {
    const page = await json(url + next);
    n += page.images.length;
    next = page.next;
  }
  return n;
}

if (!existsSync('/usr/bin/curl')) throw new Error('bench needs curl');
await main();
