// Glance's import plugins ([image_import_opts] image_import_plugins), run in
// the configured order on the staged data before it goes to the stores:
// image_decompression, image_conversion (qemu-img, always with an explicit
// input format), inject_image_metadata, no_op.

import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/options.js';
import { FormatInspector, type ImageFormatPolicy } from '../formats/index.js';
import type { StagingArea } from './staging.js';

export interface Staged {
  url: string;
  size: number;
}

/** What a plugin may read and change about the import in progress. */
export interface PluginContext {
  imageId: string;
  diskFormat: string;
  containerFormat: string;
  /** The caller's roles (inject_image_metadata skips some). */
  roles: string[];
  staging: StagingArea;
  formatPolicy: ImageFormatPolicy;
  signal: AbortSignal;
  /**
   * Stages a stream under a new name, inspected as `diskFormat` (default: the current one);
   * the plugin framework deletes the previous staged data.
   */
  restage(source: AsyncIterable<Buffer>, diskFormat?: string): Promise<Staged>;
  setDiskFormat(format: string): void;
  setProperties(props: Record<string, string>): void;
}

export interface ImportPlugin {
  readonly name: string;
  /** Returns replacement staged data, or undefined when it changed none. */
  run(staged: Staged, pc: PluginContext): Promise<Staged | undefined>;
}

const KNOWN = ['image_decompression', 'image_conversion', 'inject_image_metadata', 'no_op'];

export function pluginsFromConfig(config: Config): ImportPlugin[] {
  return config.imports.plugins.map((name) => {
    switch (name) {
      case 'image_decompression':
        return decompression;
      case 'image_conversion':
        return conversion(config.imports.conversionFormat);
      case 'inject_image_metadata':
        return injection(config.imports.inject, config.imports.injectIgnoreRoles);
      case 'no_op':
        return { name, run: async () => undefined };
      default:
        throw new ConfigError(`[image_import_opts] image_import_plugins: unknown plugin "${name}" (known: ${KNOWN.join(', ')})`);
    }
  });
}

/** Reads the head of the staged data: compression is told by its first bytes. */
async function sniff(pc: PluginContext, staged: Staged): Promise<FormatInspector> {
  const insp = new FormatInspector(pc.formatPolicy.inspector);
  const { stream } = await pc.staging.open(staged.url, pc.signal);
  let seen = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    insp.feed(chunk);
    seen += chunk.length;
    if (seen >= 65536) break; // leaving the loop closes the stream
  }
  return insp;
}

/** Runs a filter program (xz -dc, ...) over a stream. */
function filterThrough(cmd: string, args: string[], input: Readable, signal: AbortSignal): AsyncIterable<Buffer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], signal });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const fed = pipeline(input, child.stdin).catch(() => undefined);
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code}): ${stderr.trim()}`))));
  });
  return (async function* () {
    for await (const c of child.stdout as AsyncIterable<Buffer>) yield c;
    await fed;
    await exited;
  })();
}

const DECOMPRESSORS: Record<string, (input: Readable, signal: AbortSignal) => AsyncIterable<Buffer>> = {
  gzip: (input) => input.pipe(createGunzip()) as unknown as AsyncIterable<Buffer>,
  xz: (input, signal) => filterThrough('xz', ['-dc'], input, signal),
  zstd: (input, signal) => filterThrough('zstd', ['-dcq'], input, signal),
  bzip2: (input, signal) => filterThrough('bzip2', ['-dc'], input, signal),
};

/** image_decompression: a compressed upload becomes the disk image it contains. */
const decompression: ImportPlugin = {
  name: 'image_decompression',
  async run(staged, pc) {
    const insp = await sniff(pc, staged);
    const kind = insp.finish().compression;
    if (!kind) return undefined;
    const { stream } = await pc.staging.open(staged.url, pc.signal);
    return pc.restage(DECOMPRESSORS[kind]!(stream, pc.signal));
  },
};

/** image_conversion: qemu-img convert to [image_conversion] output_format, input format stated, never probed. */
function conversion(output: string): ImportPlugin {
  return {
    name: 'image_conversion',
    async run(staged, pc) {
      if (pc.diskFormat === output) return undefined;
      const from = pc.diskFormat === 'vhd' ? 'vpc' : pc.diskFormat;
      const work = await mkdtemp(join(tmpdir(), 'imago-convert-'));
      try {
        let input = pc.staging.localPath(staged.url);
        if (!input) {
          input = join(work, 'source');
          const { stream } = await pc.staging.open(staged.url, pc.signal);
          await pipeline(stream, createWriteStream(input), { signal: pc.signal });
        }
        const out = join(work, `converted.${output}`);
        await run('qemu-img', ['convert', '-q', '-f', from, '-O', output, input, out], pc.signal);
        const next = await pc.restage(createReadStream(out) as AsyncIterable<Buffer>, output);
        pc.setDiskFormat(output);
        return next;
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  };
}

/** inject_image_metadata: operator-defined properties, unless the caller has one of the ignored roles. */
function injection(inject: Record<string, string>, ignoreRoles: string[]): ImportPlugin {
  return {
    name: 'inject_image_metadata',
    async run(_staged, pc) {
      if (pc.roles.some((r) => ignoreRoles.includes(r))) return undefined;
      if (Object.keys(inject).length) pc.setProperties(inject);
      return undefined;
    },
  };
}

function run(cmd: string, args: string[], signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed (${code}): ${stderr.trim()}`))));
  });
}
