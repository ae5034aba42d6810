// Glance's image cache ([DEFAULT] image_cache_dir), run inside the API process:
// - serving: GET /file of an active image is answered from the cached file;
// - tee on a miss: a full download is copied into the cache as it streams;
// - prefetcher: images queued with PUT /v2/cache/{id} are fetched in the
//   background (Glance needs a cron job or its API worker thread for that);
// - pruner and cleaner: the cache is kept under image_cache_max_size (least
//   recently accessed first) and partial files older than
//   image_cache_stall_time are removed, on a timer, no cron.
//
// The bytes live in one flat folder, one file per image named by its id, written
// by the file store's writer: a hidden temp file, fsynced, then linked to its
// name only when the whole image arrived and its md5 equals the image's
// checksum. Records (size, checksum, hits, last access) and the prefetch queue
// live in imago's database, per node (src/cache/repository.ts). Workers of one
// node share the folder and the records; the link() commit and the queue's
// claims keep them from stepping on each other.

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline, type Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { ingest } from '../data/ingest.js';
import type { ByteRange } from '../http/range.js';
import type { Image, ImageLocation } from '../images/model.js';
import type { ImageRepository } from '../images/repository.js';
import { FileStore } from '../stores/file.js';
import type { StoreRegistry } from '../stores/registry.js';
import { StoreError, type OpenedData } from '../stores/store.js';
import type { CachedImage, CacheRepository } from './repository.js';
import { DownloadEndedEarly, Handoff, TeeStream } from './tee.js';

export interface ImageCacheDeps {
  options: Config['cache'] & { dir: string };
  repo: CacheRepository;
  images: ImageRepository;
  stores: StoreRegistry;
  /** Locations in the order downloads try them (ImageService.sortLocations). */
  sortLocations: (locations: ImageLocation[]) => ImageLocation[];
  log?: (message: string) => void;
}

/** Cache files are named by image id; nothing else in the folder is an entry. */
const ENTRY_NAME = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** A claimed queue entry is renewed this often while its image is fetched... */
const LEASE_SECONDS = 60;
/** ...and a failed fetch is retried after this long, doubling up to RETRY_MAX_SECONDS. */
const RETRY_SECONDS = 30;
const RETRY_MAX_SECONDS = 3600;
/** A cache file without a record is someone's commit in progress for this long (record written right after the link). */
const UNRECORDED_GRACE_MS = 60_000;
/** How often the maintenance (prefetch retries, clean, prune) runs. */
const MAINTENANCE_MS = 60_000;

export interface PruneResult {
  files: number;
  bytes: number;
}

export class ImageCache {
  private readonly files: FileStore;
  /** Images this process is writing into the cache right now (tee or prefetch). */
  private readonly writing = new Map<string, AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private prefetching: Promise<void> | undefined;
  private prefetchAgain = false;
  /** Fires on close(): stops the prefetcher's reads. */
  private readonly stopping = new AbortController();

  constructor(private readonly d: ImageCacheDeps) {
    this.files = new FileStore({
      id: 'image_cache',
      dirs: [{ path: d.options.dir, priority: 0 }],
      filePerm: 0,
      chunkSize: 1 << 20,
      thinProvisioning: false,
      locationMetadata: {},
    });
  }

  /** Creates the folder; start() then runs the background work (its first cleaning sweeps what a crash left). */
  async init(): Promise<void> {
    // Not FileStore.init(): its sweep would use the file store's staleness, not image_cache_stall_time.
    await mkdir(this.d.options.dir, { recursive: true });
  }

  /** Starts the prefetcher and the periodic maintenance. */
  start(): void {
    const tick = () => void this.maintain().catch((e) => this.log(`maintenance failed: ${(e as Error).message}`));
    tick();
    this.timer = setInterval(tick, MAINTENANCE_MS);
    this.timer.unref();
  }

  private get closed(): boolean {
    return this.stopping.signal.aborted;
  }

  async close(): Promise<void> {
    this.stopping.abort(new Error('The server is shutting down'));
    if (this.timer) clearInterval(this.timer);
    for (const a of this.writing.values()) a.abort(new Error('The server is shutting down'));
    await this.prefetching;
  }

  private log(message: string): void {
    (this.d.log ?? ((m: string) => console.warn(`imago: image cache: ${m}`)))(message);
  }

  private fileUrl(imageId: string): string {
    if (!ENTRY_NAME.test(imageId)) throw new Error(`not an image id: ${imageId}`);
    return pathToFileURL(join(this.d.options.dir, imageId)).href;
  }

  // --- serving ---

  /**
   * The cached bytes of an image (or of a range of them), counting a hit; undefined
   * on a miss. An entry that no longer matches the image (size, checksum) is dropped.
   */
  async open(image: Image, range: ByteRange | undefined, signal?: AbortSignal): Promise<OpenedData | undefined> {
    if (!servable(image)) return undefined;
    const entry = await this.d.repo.get(image.id);
    if (!entry) return undefined;
    if (entry.checksum !== image.checksum || entry.size !== image.size) {
      await this.evict(image.id);
      return undefined;
    }
    let opened: OpenedData;
    try {
      opened = await this.files.open(this.fileUrl(image.id), { offset: range?.offset, length: range?.length, signal });
    } catch (e) {
      if (e instanceof StoreError && e.kind === 'not_found') {
        await this.d.repo.remove(image.id);
        return undefined;
      }
      throw e;
    }
    if (opened.size !== entry.size) {
      opened.stream.destroy();
      await this.evict(image.id);
      return undefined;
    }
    await this.d.repo.hit(image.id);
    return opened;
  }

  /** Whether a valid copy of the image is cached (without counting a hit). */
  private async holds(image: Image): Promise<boolean> {
    const entry = await this.d.repo.get(image.id);
    if (!entry || entry.checksum !== image.checksum || entry.size !== image.size) return false;
    return (await stat(join(this.d.options.dir, image.id)).catch(() => undefined))?.size === entry.size;
  }

  /**
   * The download stream of a cache miss, copied into the cache on its way to the
   * client when the image can be cached (else the stream itself).
   */
  tee(image: Image, source: Readable): Readable {
    if (!this.cacheable(image)) return source;
    const handoff = new Handoff();
    const out = pipeline(source, new TeeStream(handoff), () => undefined);
    void this.write(image, handoff).finally(() => handoff.abandon());
    return out;
  }

  private cacheable(image: Image): boolean {
    return !this.closed && servable(image) && image.size! <= this.d.options.maxSize && !this.writing.has(image.id);
  }

  /**
   * Writes an image's bytes into the cache; true once committed and recorded. The file
   * only appears if every byte arrived and the md5 matches the image's checksum.
   */
  private async write(image: Image, source: AsyncIterable<Buffer>): Promise<boolean> {
    const abort = new AbortController();
    this.writing.set(image.id, abort);
    try {
      const writer = await this.files.createWriter(image.id, { sizeHint: image.size!, signal: abort.signal });
      const result = await ingest(source, writer, {
        hashAlgorithm: 'md5',
        sizeCap: Number.MAX_SAFE_INTEGER,
        declaredSize: image.size!,
        expectedChecksum: image.checksum!,
        signal: abort.signal,
      });
      await this.d.repo.add(image.id, result.size, result.checksum);
      // As Glance's commit: a cached image leaves the queue.
      await this.d.repo.dequeue(image.id);
      await this.prune();
      return true;
    } catch (e) {
      // Another worker of this node cached it first: nothing is lost.
      if (e instanceof StoreError && e.kind === 'duplicate') return false;
      if (!abort.signal.aborted && !(e instanceof DownloadEndedEarly)) this.log(`image ${image.id} was not cached: ${(e as Error).message}`);
      return false;
    } finally {
      this.writing.delete(image.id);
    }
  }

  // --- management (the /v2/cache API) ---

  async list(): Promise<{ cached_images: CachedImage[]; queued_images: string[] }> {
    return { cached_images: await this.d.repo.list(), queued_images: await this.d.repo.queued() };
  }

  async isKnown(imageId: string): Promise<boolean> {
    return (await this.d.repo.get(imageId)) !== undefined || (await this.d.repo.isQueued(imageId));
  }

  /** PUT /v2/cache/{id}: queues an image that is not cached yet and wakes the prefetcher. */
  async queue(imageId: string): Promise<boolean> {
    if ((await this.d.repo.get(imageId)) || this.writing.has(imageId)) return false;
    const queued = await this.d.repo.enqueue(imageId);
    this.kick();
    return queued;
  }

  /** Removes an image from the cache and the queue (DELETE /v2/cache/{id}, image deletion). */
  async purge(imageId: string): Promise<void> {
    await this.d.repo.dequeue(imageId);
    this.writing.get(imageId)?.abort(new Error('The image was removed from the cache'));
    await this.evict(imageId);
  }

  /** Deletes every cached file; returns how many. */
  async clearCache(): Promise<number> {
    let n = 0;
    for (const e of await this.d.repo.list()) {
      await this.evict(e.image_id);
      n++;
    }
    return n;
  }

  async clearQueue(): Promise<number> {
    return this.d.repo.clearQueue();
  }

  private async evict(imageId: string): Promise<void> {
    // The record goes first so that nobody starts serving a file about to disappear;
    // a reader that already opened it keeps reading (the inode lives on until closed).
    await this.d.repo.remove(imageId);
    if (ENTRY_NAME.test(imageId)) await rm(join(this.d.options.dir, imageId), { force: true });
  }

  /** Evicts the least recently accessed images until the cache fits image_cache_max_size. */
  async prune(): Promise<PruneResult> {
    const pruned: PruneResult = { files: 0, bytes: 0 };
    let total = await this.d.repo.totalSize();
    while (total > this.d.options.maxSize) {
      const victims = await this.d.repo.leastRecentlyAccessed(16);
      if (victims.length === 0) break;
      for (const v of victims) {
        if (total <= this.d.options.maxSize) break;
        await this.evict(v.image_id);
        total -= v.size;
        pruned.files++;
        pruned.bytes += v.size;
      }
    }
    return pruned;
  }

  /**
   * Removes what should not be there (Glance's cleaner, and more): partial files
   * untouched for image_cache_stall_time, records whose file is gone, files without
   * a record, and entries of images deleted (possibly through another node).
   */
  async clean(): Promise<number> {
    let removed = await this.files.sweep(this.d.options.stallTimeSeconds * 1000);
    const recorded = new Set<string>();
    for (const e of await this.d.repo.list()) {
      recorded.add(e.image_id);
      if (!(await stat(join(this.d.options.dir, e.image_id)).catch(() => undefined))) await this.d.repo.remove(e.image_id);
    }
    for (const id of await this.d.repo.orphans()) {
      await this.evict(id);
      removed++;
    }
    for (const name of await readdir(this.d.options.dir)) {
      if (!ENTRY_NAME.test(name) || recorded.has(name) || this.writing.has(name)) continue;
      const path = join(this.d.options.dir, name);
      const s = await stat(path).catch(() => undefined);
      if (s?.isFile() && Date.now() - s.mtimeMs > UNRECORDED_GRACE_MS && !(await this.d.repo.get(name))) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  private async maintain(): Promise<void> {
    if (this.closed) return;
    await this.clean();
    await this.prune();
    this.kick();
  }

  // --- prefetcher ---

  /** Wakes the prefetcher: it works through the due queue entries, one image at a time. */
  kick(): void {
    if (this.closed) return;
    if (this.prefetching) {
      this.prefetchAgain = true;
      return;
    }
    this.prefetching = this.drainQueue()
      .catch((e) => this.log(`prefetcher failed: ${(e as Error).message}`))
      .finally(() => {
        this.prefetching = undefined;
        if (this.prefetchAgain) {
          this.prefetchAgain = false;
          this.kick();
        }
      });
  }

  private async drainQueue(): Promise<void> {
    while (!this.closed) {
      const claimed = await this.d.repo.claim(LEASE_SECONDS);
      if (!claimed) return;
      const renew = setInterval(() => void this.d.repo.postpone(claimed.imageId, LEASE_SECONDS).catch(() => undefined), (LEASE_SECONDS * 1000) / 3);
      try {
        const outcome = await this.prefetch(claimed.imageId);
        if (outcome === 'retry') {
          const delay = Math.min(RETRY_SECONDS * 2 ** (claimed.attempts - 1), RETRY_MAX_SECONDS);
          await this.d.repo.postpone(claimed.imageId, delay);
        }
      } finally {
        clearInterval(renew);
      }
    }
  }

  /** Fetches one queued image into the cache, trying its locations in download order. */
  private async prefetch(imageId: string): Promise<'done' | 'retry'> {
    const image = await this.d.images.get(imageId);
    const drop = async (why: string) => {
      this.log(`not caching image ${imageId}: ${why}`);
      await this.d.repo.dequeue(imageId);
      return 'done' as const;
    };
    if (!image) return drop('it does not exist');
    if (image.status !== 'active') return drop(`it is ${image.status}, not active`);
    if (!servable(image)) return drop('it has no checksum to verify the cached copy against');
    if (image.size! > this.d.options.maxSize) return drop(`its ${image.size} bytes exceed image_cache_max_size (${this.d.options.maxSize})`);
    if (await this.holds(image)) {
      await this.d.repo.dequeue(imageId);
      return 'done';
    }
    // A download is teeing it in right now; look again once that had time to finish.
    if (this.writing.has(imageId)) return 'retry';
    for (const loc of this.d.sortLocations(image.locations.filter((l) => l.status === 'active'))) {
      let stream: Readable;
      try {
        stream = (await this.d.stores.forLocation(loc.url, loc.metadata).open(loc.url, { signal: this.stopping.signal })).stream;
      } catch (e) {
        if (this.closed) return 'retry';
        this.log(`prefetching image ${imageId}: a location could not be read: ${(e as Error).message}`);
        continue;
      }
      if (await this.write(image, stream)) return 'done';
      stream.destroy();
      if (this.closed) return 'retry';
      // Taken off the queue meanwhile (purge, clear), or cached by another worker of this node.
      if (!(await this.d.repo.isQueued(imageId))) return 'done';
      if (await this.holds(image)) {
        await this.d.repo.dequeue(imageId);
        return 'done';
      }
    }
    return 'retry';
  }
}

/** Images whose bytes the cache may hold: known size and an md5 to verify them against. */
function servable(image: Image): boolean {
  return image.status === 'active' && image.checksum !== null && image.size !== null;
}
