// Ceph RBD store, glance_store's `rbd` driver: one RBD image per Glance image, named by the image
// id, in rbd_store_pool, with a protected snapshot `snap` that Nova and Cinder clone from
// (copy-on-write boots and volumes). Locations are rbd://<fsid>/<pool>/<image>/snap; the legacy
// rbd://<image> form is read and deleted too.
//
// Differences from glance_store, on purpose:
// - uploads go to a temporary image renamed into place when complete (see writer.ts);
// - reads serve byte ranges (Glance's rbd store reads whole images only: Range → 400 there);
// - one connection per store instead of one per call, with bounded timeouts (cluster.ts);
// - delete leaves nothing half-done: a snapshot with clones is refused (409, in use) before
//   anything is touched, and if removing the image still fails as busy, the snapshot is put back.
//   (Glance >= 2023.1 moves such images to the RBD trash instead; issue 9 asks for Glance's 409.)
// - a location in another Ceph cluster (another fsid) is refused instead of being looked up here.

import { randomBytes } from 'node:crypto';
import { ConfigError, type OptionReader } from '../../config/options.js';
import type { DriverContext } from '../registry.js';
import { StoreError, type CallOptions, type OpenedData, type ReadOptions, type Store, type StoreWriter, type WriteOptions } from '../store.js';
import { Cluster, LibrbdMissingError, RbdError } from './cluster.js';
import { orderOf, rbdStoreOptionsFrom, type RbdStoreOptions } from './config.js';
import { Discarder } from './discard.js';
import { isErrno, storeErrorOf } from './errors.js';
import { formatRbdLocation, parseRbdLocation, rbdUrlPrefix } from './location.js';
import { RbdReadStream } from './reads.js';
import { RbdWriter } from './writer.js';

export { rbdStoreOptionsFrom, type RbdStoreOptions } from './config.js';

/** The registry's factory: options from the store's section, then init(). */
export async function rbdStoreFrom(id: string, opts: OptionReader, ctx: DriverContext): Promise<RbdStore> {
  const store = new RbdStore(rbdStoreOptionsFrom(id, opts, ctx.multistore), ctx.log);
  await store.init();
  return store;
}

/** Glance's snapshot name. */
export const SNAPSHOT = 'snap';
/** Temporary images of uploads in progress: `imago-partial.<image id>.<random>`. */
export const TEMP_PREFIX = 'imago-partial.';
/** A temporary image untouched for this long belongs to a writer that is gone (as the file store's temp files). */
const STALE_TEMP_MS = 60 * 60 * 1000;

export class RbdStore implements Store {
  readonly type = 'rbd';
  readonly schemes = ['rbd'] as const;
  readonly capabilities = { write: true, delete: true, rangeRead: true };
  readonly id: string;
  readonly description: string | undefined;
  readonly weight: number;
  readonly opts: RbdStoreOptions;
  private readonly log: { warn(msg: string): void };
  private connecting: Promise<Cluster> | undefined;
  private connected: Cluster | undefined;
  private readonly discarder: Discarder;
  private closed = false;

  constructor(opts: RbdStoreOptions, log: { warn(msg: string): void } = console) {
    this.opts = opts;
    this.id = opts.id;
    this.description = opts.description;
    this.weight = opts.weight ?? 0;
    this.log = log;
    this.discarder = new Discarder(() => this.cluster(), opts.pool, SNAPSHOT, log);
  }

  /**
   * Loads librbd (a missing library fails the start, naming the Debian packages) and connects.
   * A configuration the cluster refuses (credentials, keyring, pool) fails the start too; an
   * unreachable cluster does not: the store reconnects on use and answers 503 meanwhile.
   */
  async init(): Promise<void> {
    let cluster: Cluster;
    try {
      cluster = await this.cluster();
      await cluster.ioctx(this.opts.pool);
    } catch (e) {
      const cause = e instanceof StoreError ? e.cause : e;
      if (cause instanceof LibrbdMissingError) throw new ConfigError(`Store "${this.id}" (rbd): ${cause.message}`, { cause });
      if (cause instanceof RbdError && ['EACCES', 'EPERM', 'ENOENT', 'EINVAL'].includes(cause.code)) {
        throw new ConfigError(`Store "${this.id}" (rbd): ${this.describeFailure(cause)}`, { cause });
      }
      this.log.warn(`rbd store "${this.id}": ${(e as Error).message}; it will reconnect on use`);
      return;
    }
    void this.sweep().catch(() => undefined);
  }

  /** What a connection failure most likely means, naming the options to check. */
  private describeFailure(e: RbdError): string {
    const where = `(rbd_store_ceph_conf = ${this.opts.cephConf ?? '(librados default: /etc/ceph/ceph.conf)'}, rbd_store_user = ${this.opts.user ?? '(librados default: admin)'}, rbd_store_pool = ${this.opts.pool})`;
    if (e.call === 'rados_ioctx_create') return `the pool "${this.opts.pool}" does not exist: create it or set rbd_store_pool ${where}`;
    if (e.code === 'EACCES' || e.code === 'EPERM') return `the Ceph cluster refused the credentials: check the user's keyring and caps ${where}: ${e.message}`;
    return `cannot use the Ceph configuration or keyring ${where}: ${e.message}`;
  }

  /** The connection, made on first use and again after a failure. */
  private cluster(): Promise<Cluster> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', `Store ${this.id} is closed`));
    if (this.connected) return Promise.resolve(this.connected);
    this.connecting ??= Cluster.connect({ cephConf: this.opts.cephConf, user: this.opts.user, connectTimeout: this.opts.connectTimeout }).then(
      (c) => (this.connected = c),
      (e) => {
        this.connecting = undefined;
        const err = storeErrorOf(e, `Connecting to the Ceph cluster of store ${this.id}`);
        if (e instanceof RbdError) err.message += ` ${this.describeFailure(e)}`;
        throw err;
      },
    );
    return this.connecting;
  }

  detail(): Record<string, unknown> {
    return {
      pool: this.opts.pool,
      chunk_size: this.opts.chunkSize,
      thin_provisioning: this.opts.thinProvisioning,
      ...(this.connected ? { fsid: this.connected.fsid } : {}),
    };
  }

  /** Glance's url_prefix rbd://<fsid>/<pool>/. */
  ownsLocation(url: string): boolean {
    return this.connected !== undefined && url.startsWith(rbdUrlPrefix(this.connected.fsid, this.opts.pool));
  }

  async createWriter(imageId: string, opts: WriteOptions = {}): Promise<StoreWriter> {
    opts.signal?.throwIfAborted();
    const cluster = await this.cluster();
    const { pool } = this.opts;
    const exists = await cluster.exists(pool, imageId).catch((e) => {
      throw storeErrorOf(e, `Looking up RBD image ${pool}/${imageId}`);
    });
    if (exists) throw new StoreError('duplicate', `RBD image ${pool}/${imageId} already exists`);
    const tempName = `${TEMP_PREFIX}${imageId}.${randomBytes(6).toString('hex')}`;
    try {
      await cluster.create(pool, tempName, opts.sizeHint ?? 0, orderOf(this.opts.chunkSize));
    } catch (e) {
      throw storeErrorOf(e, `Creating RBD image ${pool}/${tempName}`);
    }
    let image;
    try {
      image = await cluster.open(pool, tempName);
    } catch (e) {
      await this.discarder.discard(tempName);
      throw storeErrorOf(e, `Opening RBD image ${pool}/${tempName}`);
    }
    return new RbdWriter({
      cluster,
      pool,
      image,
      tempName,
      finalName: imageId,
      chunkSize: this.opts.chunkSize,
      thinProvisioning: this.opts.thinProvisioning,
      snapshot: SNAPSHOT,
      sizeHint: opts.sizeHint,
      signal: opts.signal,
      url: formatRbdLocation(cluster.fsid, pool, imageId, SNAPSHOT),
      metadata: { ...this.opts.locationMetadata },
      discard: (name) => this.discarder.discard(name),
    });
  }

  /** Pool, image and snapshot of a location of this cluster. */
  private async locate(url: string): Promise<{ cluster: Cluster; pool: string; image: string; snapshot: string | undefined; what: string }> {
    const loc = parseRbdLocation(url);
    const cluster = await this.cluster();
    if (loc.fsid !== undefined && loc.fsid !== cluster.fsid) {
      throw new StoreError('bad_uri', `The location ${url} is in Ceph cluster ${loc.fsid}; store ${this.id} is connected to cluster ${cluster.fsid}`);
    }
    const pool = loc.pool ?? this.opts.pool;
    return { cluster, pool, image: loc.image, snapshot: loc.snapshot, what: `RBD image ${pool}/${loc.image}${loc.snapshot ? '@' + loc.snapshot : ''}` };
  }

  async open(url: string, opts: ReadOptions = {}): Promise<OpenedData> {
    opts.signal?.throwIfAborted();
    const l = await this.locate(url);
    let image;
    try {
      image = await l.cluster.open(l.pool, l.image, { snap: l.snapshot, readOnly: true });
    } catch (e) {
      throw storeErrorOf(e, `Opening ${l.what}`);
    }
    const size = image.size();
    const start = Math.min(opts.offset ?? 0, size);
    const end = opts.length === undefined ? size : Math.min(size, start + opts.length);
    return { stream: new RbdReadStream(image, start, end, this.opts.chunkSize, l.what, opts.signal), size };
  }

  async stat(url: string, opts: CallOptions = {}): Promise<{ size: number }> {
    opts.signal?.throwIfAborted();
    const l = await this.locate(url);
    try {
      const image = await l.cluster.open(l.pool, l.image, { snap: l.snapshot, readOnly: true });
      const size = image.size();
      await image.close();
      return { size };
    } catch (e) {
      throw storeErrorOf(e, `Opening ${l.what}`);
    }
  }

  /**
   * Glance's delete: unprotect and remove the snapshot, then the image. A snapshot with clones
   * (Nova disks, Cinder volumes made from the image) is in use: 409, and nothing is changed.
   */
  async delete(url: string, opts: CallOptions = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    const l = await this.locate(url);
    let snapRemoved = false;
    try {
      if (l.snapshot !== undefined) {
        const image = await l.cluster.open(l.pool, l.image);
        try {
          if (image.snapExists(l.snapshot)) {
            const clones = await image.children(l.snapshot);
            if (clones > 0) throw new StoreError('in_use', `${l.what} has ${clones} clone(s) (Nova disks or Cinder volumes made from it): delete or flatten them first`);
            await image.snap('unprotect', l.snapshot).catch((e) => {
              if (!isErrno(e, 'EINVAL')) throw e; // already unprotected
            });
            await image.snap('remove', l.snapshot);
            snapRemoved = true;
          }
        } finally {
          await image.close();
        }
      }
      await l.cluster.remove(l.pool, l.image);
    } catch (e) {
      if (snapRemoved && isErrno(e, 'EBUSY', 'ENOTEMPTY')) await this.restoreSnapshot(l.cluster, l.pool, l.image, l.snapshot!);
      if (isErrno(e, 'EBUSY', 'ENOTEMPTY')) throw storeErrorOf(e, `Removing ${l.what}: it is in use (open elsewhere, or it has other snapshots)`);
      throw storeErrorOf(e, `Deleting ${l.what}`);
    }
  }

  /** Puts back the snapshot a failed removal took: the image is unchanged, so the location stays valid. */
  private async restoreSnapshot(cluster: Cluster, pool: string, name: string, snapshot: string): Promise<void> {
    try {
      const image = await cluster.open(pool, name);
      try {
        await image.snap('create', snapshot);
        await image.snap('protect', snapshot);
      } finally {
        await image.close();
      }
    } catch (e) {
      this.log.warn(`rbd store: could not restore snapshot ${pool}/${name}@${snapshot} after a failed delete: ${(e as Error).message}`);
    }
  }

  /** Committed images whose names start with `prefix` (temporary images excluded), with their locations. */
  async list(prefix: string): Promise<{ name: string; url: string }[]> {
    const cluster = await this.cluster();
    const names = await this.names(cluster);
    return names
      .filter((n) => n.startsWith(prefix) && !n.startsWith(TEMP_PREFIX))
      .map((name) => ({ name, url: formatRbdLocation(cluster.fsid, this.opts.pool, name, SNAPSHOT) }));
  }

  /**
   * Removes temporary images of writers that are gone: untouched for an hour (other API nodes
   * may be writing theirs right now; librbd updates an image's modify time at least every 60 s
   * while it is written). Returns the names removed.
   */
  async sweep(olderThanMs = STALE_TEMP_MS): Promise<string[]> {
    const cluster = await this.cluster();
    const removed: string[] = [];
    for (const name of await this.names(cluster)) {
      if (!name.startsWith(TEMP_PREFIX) || this.discarder.retrying.has(name)) continue;
      let modified: number;
      try {
        const image = await cluster.open(this.opts.pool, name, { readOnly: true });
        modified = image.modifiedAt();
        await image.close();
      } catch {
        continue; // gone meanwhile, or unreadable now: next sweep
      }
      if (Date.now() - modified < olderThanMs) continue;
      await this.discarder.removeNow(name).then(
        () => removed.push(name),
        () => undefined,
      );
    }
    return removed;
  }

  /** Removes the temporary images of uploads of `prefix`* now: their writers are known to be dead. */
  async abandon(prefix: string): Promise<void> {
    const cluster = await this.cluster();
    for (const name of await this.names(cluster)) {
      if (name.startsWith(TEMP_PREFIX + prefix)) await this.discarder.discard(name);
    }
  }

  private async names(cluster: Cluster): Promise<string[]> {
    try {
      return await cluster.list(this.opts.pool);
    } catch (e) {
      throw storeErrorOf(e, `Listing pool ${this.opts.pool}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.discarder.close();
    const c = this.connected ?? (await this.connecting?.catch(() => undefined));
    await c?.close();
  }
}
