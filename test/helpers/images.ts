// Builds real disk images with Debian tools for the format inspector tests, and feeds them in odd-sized chunks.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FormatInspector, type InspectionResult, type InspectorOptions } from '../../src/formats/index.js';
import { tempDir } from './cleanup.js';

/** Debian package that provides each tool the tests run. */
const PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  sfdisk: 'fdisk',
  genisoimage: 'genisoimage',
  gzip: 'gzip',
  xz: 'xz-utils',
  zstd: 'zstd',
  bzip2: 'bzip2',
};

/** Fails (never skips) when a tool is missing, naming the package to install. */
export function requireTool(name: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${name} || test -x /usr/sbin/${name}`], { stdio: 'ignore' });
  if (found.status !== 0) {
    throw new Error(`${name} is not installed: apt-get install ${PACKAGES[name] ?? name} (needed by the format inspector tests)`);
  }
}

export function run(cmd: string, args: string[], input?: Buffer): Buffer {
  const env = { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` };
  return execFileSync(cmd, args, { env, input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface QemuInfo {
  'virtual-size': number;
  format: string;
  'format-specific'?: { data?: Record<string, unknown> };
}

export function qemuInfo(file: string, fmt?: string): QemuInfo {
  requireTool('qemu-img');
  const args = ['info', '--output=json', ...(fmt ? ['-f', fmt] : []), file];
  return JSON.parse(run('qemu-img', args).toString()) as QemuInfo;
}

export function qemuImg(...args: string[]): void {
  requireTool('qemu-img');
  run('qemu-img', args);
}

export class Workdir {
  readonly dir = tempDir('imago-formats-');
  path(name: string): string {
    return join(this.dir, name);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Deterministic PRNG (mulberry32) so a failing chunking pattern can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, seed = 1): Buffer {
  const r = prng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Feeds `data` in chunks of 1 byte .. 64 KiB (half of them tiny, to cut through headers), seeded. */
export function inspectChunked(data: Buffer, seed: number, opts?: InspectorOptions): InspectionResult {
  const r = prng(seed);
  const insp = new FormatInspector(opts);
  let off = 0;
  while (off < data.length) {
    const n = r() < 0.5 ? 1 + Math.floor(r() * 600) : 1 + Math.floor(r() * 65536);
    // Copy so the inspector never sees a view into a buffer it could rely on beyond the chunk.
    insp.feed(Buffer.from(data.subarray(off, off + n)));
    off += n;
  }
  return insp.finish();
}

export function inspectWhole(data: Buffer, opts?: InspectorOptions): InspectionResult {
  const insp = new FormatInspector(opts);
  insp.feed(data);
  return insp.finish();
}

/**
 * Inspects a file in one big chunk and with three random chunkings, asserts they all agree, and returns the result.
 */
export function inspectFile(file: string, opts?: InspectorOptions): InspectionResult {
  return inspectData(readFileSync(file), opts);
}

export function inspectData(data: Buffer, opts?: InspectorOptions): InspectionResult {
  const whole = inspectWhole(data, opts);
  for (const seed of [1, 2, 3]) {
    const chunked = inspectChunked(data, seed, opts);
    if (JSON.stringify(chunked) !== JSON.stringify(whole)) {
      throw new Error(`chunking seed ${seed} changed the result:\n${JSON.stringify(chunked)}\nvs\n${JSON.stringify(whole)}`);
    }
  }
  return whole;
}

export function checks(r: InspectionResult): string[] {
  return r.safety.failures.map((f) => f.check);
}
