// Throughput of FormatInspector.feed() on a 1 GiB stream, raw and qcow2, at several chunk sizes.
// Run: npm run build && node dist/bench/inspector.js [GiB]
import { createHash, randomFillSync } from 'node:crypto';
import { FormatInspector } from '../src/formats/index.js';

const GiB = 1024 ** 3;
const total = Number(process.argv[2] ?? 1) * GiB;

/** A pool of distinct buffers so the loop looks like a stream of fresh chunks, not one hot buffer. */
function pool(chunkSize: number): Buffer[] {
  const count = Math.max(4, Math.ceil((64 * 1024 * 1024) / chunkSize));
  return Array.from({ length: Math.min(count, 4096) }, () => randomFillSync(Buffer.allocUnsafe(chunkSize)));
}

function qcow2Header(): Buffer {
  const h = Buffer.alloc(64 * 1024);
  h.write('QFI\xfb', 0, 'latin1');
  h.writeUInt32BE(3, 4);
  h.writeUInt32BE(16, 20); // 64 KiB clusters
  h.writeBigUInt64BE(BigInt(total), 24);
  h.writeUInt32BE(104, 100);
  return h;
}

function run(label: string, first: Buffer | null, chunks: Buffer[], feed: (b: Buffer) => void, done: () => void): number {
  const t0 = process.hrtime.bigint();
  let n = 0;
  if (first) {
    feed(first);
    n += first.length;
  }
  for (let i = 0; n < total; i++) {
    const c = chunks[i % chunks.length]!;
    feed(c);
    n += c.length;
  }
  done();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const mbs = n / 1e6 / s;
  const perChunk = (s * 1e9) / Math.ceil(n / chunks[0]!.length);
  console.log(
    `${label.padEnd(44)} ${(n / GiB).toFixed(2)} GiB in ${(s * 1000).toFixed(1).padStart(7)} ms = ` +
      `${mbs.toFixed(0).padStart(9)} MB/s, ${perChunk.toFixed(1).padStart(6)} ns/chunk`,
  );
  return mbs;
}

const results: Record<string, number> = {};
for (const chunkSize of [1024, 16 * 1024, 64 * 1024, 1024 * 1024]) {
  const chunks = pool(chunkSize);
  const k = `${chunkSize >= 1024 * 1024 ? `${chunkSize / 1024 / 1024} MiB` : `${chunkSize / 1024} KiB`} chunks`;
  run(`baseline (empty loop), ${k}`, null, chunks, () => undefined, () => undefined);
  for (let rep = 0; rep < 2; rep++) {
    let insp = new FormatInspector();
    results[`raw ${k}`] = run(`raw, ${k}`, null, chunks, (b) => insp.feed(b), () => void insp.finish());
    insp = new FormatInspector();
    results[`qcow2 ${k}`] = run(`qcow2, ${k}`, qcow2Header(), chunks, (b) => insp.feed(b), () => void insp.finish());
  }
}
// For scale: what the upload pipeline's hashers cost on the same data.
const chunks = pool(64 * 1024);
for (const algo of ['md5', 'sha512']) {
  const h = createHash(algo);
  run(`${algo} (for comparison), 64 KiB chunks`, null, chunks, (b) => h.update(b), () => void h.digest());
}
console.log(JSON.stringify(results));
