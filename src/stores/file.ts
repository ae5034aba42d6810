// Local or NFS file system store, Glance's `file` driver: one flat file per
// image, `file://<datadir>/<image id>`. Unlike Glance it never exposes a
// partial file: bytes go to a hidden temp file that is fsynced and renamed
// into place on commit, and removed on abort.

import { constants } from 'node:fs';
import { chmod, link, mkdir, open, readdir, rename, rm, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StoreError, type CommittedData, type OpenedData, type ReadOptions, type Store, type StoreWriter, type WriteOptions } from './store.js';
import { ConfigError, type OptionReader } from '../config/options.js';
import { FileSlice } from '../data/fileSlice.js';

export interface DataDir {
  path: string;
  priority: number;
}

export interface FileStoreOptions {
  id: string;
  description?: string | undefined;
  weight?: number;
  dirs: DataDir[];
  /** Octal permission bits applied after commit (filesystem_store_file_perm), 0 = leave as created. */
  filePerm: number;
  chunkSize: number;
  thinProvisioning: boolean;
  /** Location metadata added to every location (plus {store: id} in multistore mode). */
  locationMetadata: Record<string, unknown>;
}

const TEMP_PREFIX = '.imago-partial-';
/** Writes are gathered into this many bytes before one writev, to keep syscalls few. */
const WRITE_BATCH = 1 << 20;
/** A temp file untouched for this long belongs to a writer that is gone. */
const STALE_TEMP_MS = 60 * 60 * 1000;

export function fileStoreOptionsFrom(id: string, opts: OptionReader, defaultDir: string, multistore: boolean): FileStoreOptions {
  const single = opts.str('filesystem_store_datadir');
  const multi = opts.multi('filesystem_store_datadirs');
  if (single && multi.length) {
    throw new ConfigError(`[${opts.section}] filesystem_store_datadir and filesystem_store_datadirs are mutually exclusive`);
  }
  const dirs: DataDir[] = multi.length
    ? multi.map((entry) => {
        const m = /^(.*?)(?::(\d+))?$/.exec(entry.trim())!;
        return { path: resolve(m[1]!), priority: m[2] ? Number(m[2]) : 0 };
      })
    : [{ path: resolve(single || defaultDir), priority: 0 }];
  const permText = opts.str('filesystem_store_file_perm', '0');
  const filePerm = parseInt(permText, 8);
  if (Number.isNaN(filePerm)) throw new ConfigError(`[${opts.section}] filesystem_store_file_perm: "${permText}" is not octal`);
  if (filePerm !== 0 && (filePerm & 0o400) === 0) {
    throw new ConfigError(`[${opts.section}] filesystem_store_file_perm must keep the owner read bit`);
  }
  return {
    id,
    description: opts.str('store_description'),
    weight: opts.int('weight', 0),
    dirs,
    filePerm,
    chunkSize: opts.int('filesystem_store_chunk_size', 65536, 1),
    thinProvisioning: opts.bool('filesystem_thin_provisioning', false),
    locationMetadata: multistore ? { store: id } : {},
  };
}

export class FileStore implements Store {
  readonly type = 'file';
  readonly schemes = ['file', 'filesystem'] as const;
  readonly capabilities = { write: true, delete: true, rangeRead: true };
  readonly id: string;
  readonly description: string | undefined;
  readonly weight: number;
  private readonly opts: FileStoreOptions;

  constructor(opts: FileStoreOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.description = opts.description;
    this.weight = opts.weight ?? 0;
  }

  /** Creates the data folders and sweeps what a crash left behind. */
  async init(): Promise<void> {
    for (const d of this.opts.dirs) await mkdir(d.path, { recursive: true });
    await this.sweep();
  }

  /**
   * Removes temp files a crashed writer left behind. Only stale ones: other API workers
   * sharing the folder (NFS) may be writing theirs right now, and a live upload touches its
   * file's mtime all the time. Returns how many it removed.
   */
  async sweep(olderThanMs = STALE_TEMP_MS): Promise<number> {
    let removed = 0;
    for (const { name, path } of await this.entries()) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const s = await stat(path).catch(() => undefined);
      if (s && Date.now() - s.mtimeMs >= olderThanMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** The committed files whose names start with `prefix` (temp files excluded), with their URLs. */
  async list(prefix: string): Promise<{ name: string; url: string }[]> {
    return (await this.entries())
      .filter(({ name }) => name.startsWith(prefix) && !name.startsWith(TEMP_PREFIX))
      .map(({ name, path }) => ({ name, url: pathToFileURL(path).href }));
  }

  async abandon(prefix: string): Promise<void> {
    for (const { name, path } of await this.entries()) {
      if (name.startsWith(TEMP_PREFIX + prefix)) await rm(path, { force: true });
    }
  }

  /** Every name in every data folder (a folder that cannot be read has none). */
  private async entries(): Promise<{ name: string; path: string }[]> {
    const all: { name: string; path: string }[] = [];
    for (const d of this.opts.dirs) {
      for (const name of await readdir(d.path).catch(() => [] as string[])) all.push({ name, path: join(d.path, name) });
    }
    return all;
  }

  detail(): Record<string, unknown> {
    return {
      data_dir: this.opts.dirs.map((d) => d.path).join(','),
      chunk_size: this.opts.chunkSize,
      thin_provisioning: this.opts.thinProvisioning,
    };
  }

  /** Highest priority first; inside a priority, the folder with most free space that fits. */
  private async chooseDir(sizeHint: number | undefined): Promise<string> {
    if (this.opts.dirs.length === 1) return this.opts.dirs[0]!.path;
    const priorities = [...new Set(this.opts.dirs.map((d) => d.priority))].sort((a, b) => b - a);
    for (const p of priorities) {
      let best: { path: string; free: number } | undefined;
      for (const d of this.opts.dirs.filter((x) => x.priority === p)) {
        const s = await statfs(d.path);
        const free = s.bavail * s.bsize;
        if ((sizeHint === undefined || free >= sizeHint) && (!best || free > best.free)) best = { path: d.path, free };
      }
      if (best) return best.path;
    }
    throw new StoreError('storage_full', 'There is not enough disk space on the image storage media.');
  }

  async createWriter(imageId: string, opts: WriteOptions = {}): Promise<StoreWriter> {
    opts.signal?.throwIfAborted();
    const dir = await this.chooseDir(opts.sizeHint);
    const finalPath = join(dir, imageId);
    if (await exists(finalPath)) throw new StoreError('duplicate', `Image file ${finalPath} already exists`);
    const tempPath = join(dir, `${TEMP_PREFIX}${imageId}-${randomBytes(6).toString('hex')}`);
    let fh: FileHandle;
    try {
      fh = await open(tempPath, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    } catch (e) {
      throw mapFsError(e);
    }
    return new FileWriter(fh, tempPath, finalPath, this.opts, opts.signal);
  }

  ownsLocation(url: string): boolean {
    try {
      this.pathOf(url);
      return true;
    } catch {
      return false;
    }
  }

  /** Only files inside our data folders are ours to read or delete (a location URL is user input). */
  private pathOf(url: string): string {
    let path: string;
    try {
      const u = new URL(url.replace(/^filesystem:/, 'file:'));
      if (u.protocol !== 'file:') throw new Error('scheme');
      path = fileURLToPath(u);
    } catch {
      throw new StoreError('bad_uri', `Invalid file store location: ${url}`);
    }
    const p = resolve(path);
    if (!this.opts.dirs.some((d) => dirname(p) === d.path || p.startsWith(d.path + sep))) {
      throw new StoreError('bad_uri', `Location ${url} is outside the data folders of store ${this.id}`);
    }
    return p;
  }

  async open(url: string, opts: ReadOptions = {}): Promise<OpenedData> {
    const path = this.pathOf(url);
    let fh: FileHandle;
    let size: number;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw mapFsError(e);
    }
    try {
      size = (await fh.stat()).size;
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw mapFsError(e);
    }
    const start = opts.offset ?? 0;
    const length = opts.length ?? Math.max(0, size - start);
    return { stream: new FileSlice(fh, start, length, opts.signal), size };
  }

  async stat(url: string): Promise<{ size: number }> {
    try {
      return { size: (await stat(this.pathOf(url))).size };
    } catch (e) {
      throw e instanceof StoreError ? e : mapFsError(e);
    }
  }

  async delete(url: string): Promise<void> {
    try {
      await unlink(this.pathOf(url));
    } catch (e) {
      throw e instanceof StoreError ? e : mapFsError(e);
    }
  }
}

class FileWriter implements StoreWriter {
  /**
   * Small writes are copied into a batch, so the caller may reuse its buffer as soon as write()
   * resolves. Two batches alternate: one is on its way to disk while the next one fills.
   */
  private batches = [Buffer.allocUnsafe(WRITE_BATCH), Buffer.allocUnsafe(WRITE_BATCH)];
  private batch = this.batches[0]!;
  private batchLength = 0;
  private inFlight: Promise<void> | undefined;
  private position = 0;
  private state: 'open' | 'committing' | 'done' = 'open';
  /** Why the writer can no longer be used (its AbortSignal fired, or a write failed). */
  private failure: Error | undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly tempPath: string,
    private readonly finalPath: string,
    private readonly opts: FileStoreOptions,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal) {
      this.onAbort = () => {
        if (this.state !== 'open') return;
        this.failure = abortReason(signal);
        void this.abort();
      };
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private usable(): void {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new Error('writer already finished');
  }

  async write(chunk: Buffer): Promise<void> {
    this.usable();
    try {
      if (chunk.length < WRITE_BATCH && this.batchLength + chunk.length <= WRITE_BATCH) {
        chunk.copy(this.batch, this.batchLength);
        this.batchLength += chunk.length;
        if (this.batchLength === WRITE_BATCH) await this.send();
      } else {
        await this.send();
        await this.inFlight;
        // large chunks go straight to disk; the await keeps the caller off the buffer meanwhile
        await this.writeAt(chunk, this.reserve(chunk.length));
      }
    } catch (e) {
      throw this.failure ?? mapFsError(e);
    }
  }

  /** Claims the next `n` bytes of the file. */
  private reserve(n: number): number {
    const at = this.position;
    this.position += n;
    return at;
  }

  /** Starts writing the current batch (after the previous one landed) and switches to the other buffer. */
  private async send(): Promise<void> {
    if (this.batchLength === 0) return;
    await this.inFlight;
    const data = this.batch.subarray(0, this.batchLength);
    const flight = this.writeAt(data, this.reserve(data.length));
    flight.catch(() => undefined); // surfaced by the next await of inFlight
    this.inFlight = flight;
    this.batch = this.batch === this.batches[0] ? this.batches[1]! : this.batches[0]!;
    this.batchLength = 0;
  }

  private async flush(): Promise<void> {
    await this.send();
    await this.inFlight;
  }

  private async writeAt(data: Buffer, at: number): Promise<void> {
    // thin provisioning leaves a hole for zero blocks; the final truncate gives the file its size
    if (this.opts.thinProvisioning && isZero(data)) return;
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.fh.write(data, off, data.length - off, at + off);
      off += bytesWritten;
    }
  }

  async commit(): Promise<CommittedData> {
    this.usable();
    this.state = 'committing';
    try {
      await this.flush();
      if (this.opts.thinProvisioning) await this.fh.truncate(this.position);
      await this.fh.sync();
      await this.fh.close();
      if (this.opts.filePerm) await chmod(this.tempPath, this.opts.filePerm);
      await publish(this.tempPath, this.finalPath);
      await syncDir(dirname(this.finalPath));
    } catch (e) {
      this.state = 'open';
      await this.abort();
      throw mapFsError(e);
    }
    this.finish();
    return { url: pathToFileURL(this.finalPath).href, size: this.position, metadata: { ...this.opts.locationMetadata } };
  }

  async abort(): Promise<void> {
    if (this.state === 'done') return;
    this.finish();
    await this.inFlight?.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
  }

  private finish(): void {
    this.state = 'done';
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Moves a finished temp file to its final name without ever replacing an image file: link()
 * fails with EEXIST where rename() would silently overwrite a concurrent writer's commit.
 */
async function publish(tempPath: string, finalPath: string): Promise<void> {
  try {
    await link(tempPath, finalPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new StoreError('duplicate', `Image file ${finalPath} already exists`, { cause: e });
    // file systems without hard links: best effort, check then rename
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    if (await exists(finalPath)) throw new StoreError('duplicate', `Image file ${finalPath} already exists`);
    await rename(tempPath, finalPath);
    return;
  }
  await unlink(tempPath);
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The write was aborted', 'AbortError');
}

const ZEROS = Buffer.alloc(1 << 16);

/** memcmp against a zero page instead of a byte loop: this runs on every chunk of a thin upload. */
function isZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const part = b.subarray(off, off + ZEROS.length);
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function mapFsError(e: unknown): Error {
  if (e instanceof StoreError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  const msg = (e as Error)?.message ?? String(e);
  switch (code) {
    case 'ENOENT':
      return new StoreError('not_found', 'Image file not found', { cause: e });
    case 'ENOSPC':
    case 'EFBIG':
    case 'EDQUOT':
      return new StoreError('storage_full', `There is not enough disk space on the image storage media: ${msg}`, { cause: e });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StoreError('write_denied', `Permission to write image storage media denied: ${msg}`, { cause: e });
    default:
      return e instanceof Error ? e : new Error(msg);
  }
}
