// What the image cache buys: GET /file throughput of one image served from its
// store, the first download of a cache miss (teed into the cache as it streams),
// and a cache hit, through the real server process.
//
//   npm run build && node dist/bench/cache.js [--size-mib 1024] [--runs 3] [--store file|s3]
//
// file: the file store on the same disk as the cache (the cache's cost, not its gain).
// s3: the image lives in S3 (S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY, else a ceph-mini is
// started and stopped), the cache on local disk: the case the cache is for.

import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { client, startImago, type Imago } from '../test/helpers/server.js';
import { s3Backend, type S3Backend } from '../test/integration/backends.js';

const MiB = 1 << 20;

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    store: { type: 'string', default: 'file' },
  },
});
const sizeMiB = Number(values['size-mib']);
const runs = Number(values.runs);

/** Downloads and discards the body; MiB/s. */
function download(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let n = 0;
    request(url, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}`));
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => {
        if (n !== sizeMiB * MiB) reject(new Error(`short body: ${n}`));
        resolve(n / MiB / ((performance.now() - t0) / 1000));
      });
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

function conf(store: string, s3: S3Backend | undefined, cache: boolean): string {
  const lines = ['[DEFAULT]', ...(cache ? ['image_cache_dir = {data}/cache', `image_cache_max_size = ${4 * sizeMiB * MiB}`] : [])];
  if (store === 's3') {
    lines.push(
      '[glance_store]',
      'stores = s3',
      'default_store = s3',
      `s3_store_host = ${s3!.endpoint}`,
      `s3_store_access_key = ${s3!.accessKey}`,
      `s3_store_secret_key = ${s3!.secretKey}`,
      `s3_store_bucket = imago-bench-cache-${Date.now()}`,
      's3_store_create_bucket_on_put = true',
    );
  }
  return lines.join('\n') + '\n';
}

async function uploadImage(imago: Imago): Promise<string> {
  const api = client(imago.url);
  const img = await api.create();
  const chunk = randomBytes(MiB);
  const body = new ReadableStream({
    start(c) {
      for (let i = 0; i < sizeMiB; i++) c.enqueue(chunk);
      c.close();
    },
  });
  const r = await api.upload(`/v2/images/${img.id}/file`, body as unknown as Buffer);
  if (r.status !== 204) throw new Error(`upload: ${r.status} ${r.text}`);
  return img.id as string;
}

const best = (xs: number[]) => Math.max(...xs);
const fmt = (x: number) => x.toFixed(0).padStart(6);

async function main(): Promise<void> {
  const s3 = values.store === 's3' ? s3Backend() : undefined;
  const imago = await startImago({ conf: conf(values.store!, s3, true) });
  try {
    const api = client(imago.url);
    const id = await uploadImage(imago);
    const url = `${imago.url}/v2/images/${id}/file`;
    // The store alone: ranged reads never touch the cache, so a full-length Range is the
    // store path without the tee.
    const store: number[] = [];
    for (let i = 0; i < runs; i++) {
      store.push(
        await new Promise<number>((resolve, reject) => {
          const t0 = performance.now();
          let n = 0;
          request(url, { headers: { Range: `bytes=0-${sizeMiB * MiB - 1}` } }, (res) => {
            res.on('data', (c: Buffer) => (n += c.length));
            res.on('end', () => resolve(n / MiB / ((performance.now() - t0) / 1000)));
            res.on('error', reject);
          })
            .on('error', reject)
            .end();
        }),
      );
    }
    const tee: number[] = [];
    const hit: number[] = [];
    for (let i = 0; i < runs; i++) {
      tee.push(await download(url));
      for (let t = 0; ; t++) {
        const listed = (await api.get('/v2/cache')).json.cached_images.some((e: { image_id: string }) => e.image_id === id);
        if (listed) break;
        if (t > 600) throw new Error('the tee never committed');
        await new Promise((r) => setTimeout(r, 50));
      }
      hit.push(await download(url));
      if (i < runs - 1) await api.del(`/v2/cache/${id}`);
    }
    console.log(`image cache, ${sizeMiB} MiB image in the ${values.store} store, best of ${runs} (MiB/s):`);
    console.log(`  store (ranged GET, no cache)   ${fmt(best(store))}   runs: ${store.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`  miss, teed into the cache      ${fmt(best(tee))}   runs: ${tee.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`  hit, from the cache            ${fmt(best(hit))}   runs: ${hit.map((x) => x.toFixed(0)).join(' ')}`);
  } finally {
    await imago.stop();
    s3?.stop();
  }
}

await main();
