// One librados connection per store (as Ceph recommends: a connection is ~16 threads), pool io
// contexts, and the RBD image operations the store needs, as promises. Connection timeouts are
// bounded here so that a stuck cluster fails calls instead of hanging them.

import { setTimeout as sleep } from 'node:timers/promises';
import { LibrbdMissingError, Librbd, RbdError, type Pointer } from './librbd.js';

/** librados's defaults, which mean "wait 300 s" and "wait forever". */
const LIBRADOS_DEFAULT_TIMEOUTS: Record<string, string> = { client_mount_timeout: '300', rados_mon_op_timeout: '0', rados_osd_op_timeout: '0' };
/** imago's, used when neither rados_connect_timeout nor ceph.conf set them: a stuck cluster answers 503 within a minute. */
const DEFAULT_TIMEOUTS: Record<string, string> = { client_mount_timeout: '30', rados_mon_op_timeout: '30', rados_osd_op_timeout: '60' };

/** RBD feature bits by the names rbd_default_features accepts (librbd.h RBD_FEATURE_*). */
const FEATURE_BITS: Record<string, bigint> = {
  layering: 1n,
  striping: 2n,
  'exclusive-lock': 4n,
  'object-map': 8n,
  'fast-diff': 16n,
  'deep-flatten': 32n,
  journaling: 64n,
  'data-pool': 128n,
  operations: 256n,
  migrating: 512n,
  'non-primary': 1024n,
};

export interface ClusterOptions {
  cephConf?: string | undefined;
  user?: string | undefined;
  /** Seconds; > 0 sets client_mount_timeout, rados_mon_op_timeout and rados_osd_op_timeout. */
  connectTimeout: number;
}

export class Cluster {
  private readonly ioctxs = new Map<string, Promise<Pointer>>();
  /** Images not closed yet: librados must not shut down under them (their handles would dangle). */
  private readonly images = new Set<RbdImage>();
  private closed = false;

  private constructor(
    readonly lib: Librbd,
    private readonly handle: Pointer,
    /** The cluster's fsid, as in rbd://<fsid>/... locations. */
    readonly fsid: string,
    /** rbd_default_features of the cluster's configuration (Glance: LAYERING when 0 or unset). */
    readonly features: bigint,
  ) {}

  /** Connects; rejects with RbdError (e.g. ETIMEDOUT, EACCES, ENOENT) or LibrbdMissingError. */
  static async connect(opts: ClusterOptions): Promise<Cluster> {
    const lib = await Librbd.load();
    const out: [Pointer | null] = [null];
    lib.check('rados_create', out, opts.user ?? null);
    const handle = out[0]!;
    try {
      // null: librados's own search ($CEPH_CONF, /etc/ceph/ceph.conf, ~/.ceph/config, ./ceph.conf)
      const rc = lib.sync('rados_conf_read_file', handle, opts.cephConf ?? null);
      if (rc < 0) throw new RbdError(`reading the Ceph configuration ${opts.cephConf ?? '(librados default locations)'}`, rc);
      for (const [option, def] of Object.entries(DEFAULT_TIMEOUTS)) {
        const value = opts.connectTimeout > 0 ? String(opts.connectTimeout) : confGet(lib, handle, option) === LIBRADOS_DEFAULT_TIMEOUTS[option] ? def : undefined;
        if (value !== undefined) lib.check('rados_conf_set', handle, option, value);
      }
      await lib.blocking('rados_connect', handle);
      const buf = Buffer.alloc(64);
      const n = lib.check('rados_cluster_fsid', handle, buf, buf.length);
      return new Cluster(lib, handle, buf.toString('utf8', 0, n), parseFeatures(confGet(lib, handle, 'rbd_default_features')));
    } catch (e) {
      await lib.blocking('rados_shutdown', handle).catch(() => undefined);
      throw e;
    }
  }

  /** The io context of a pool (created once); ENOENT when the pool does not exist. */
  ioctx(pool: string): Promise<Pointer> {
    let p = this.ioctxs.get(pool);
    if (!p) {
      p = (async () => {
        const out: [Pointer | null] = [null];
        await this.lib.blocking('rados_ioctx_create', this.handle, pool, out);
        return out[0]!;
      })();
      p.catch(() => this.ioctxs.delete(pool));
      this.ioctxs.set(pool, p);
    }
    return p;
  }

  async create(pool: string, name: string, size: number, order: number): Promise<void> {
    await this.lib.blocking('rbd_create2', await this.ioctx(pool), name, size, this.features, [order]);
  }

  async remove(pool: string, name: string): Promise<void> {
    await this.lib.blocking('rbd_remove', await this.ioctx(pool), name);
  }

  async rename(pool: string, from: string, to: string): Promise<void> {
    await this.lib.blocking('rbd_rename', await this.ioctx(pool), from, to);
  }

  /** Whether an image of that name exists in the pool. */
  async exists(pool: string, name: string): Promise<boolean> {
    try {
      await (await this.open(pool, name, { readOnly: true })).close();
      return true;
    } catch (e) {
      if (e instanceof RbdError && e.code === 'ENOENT') return false;
      throw e;
    }
  }

  /** Names of the images in a pool. */
  async list(pool: string): Promise<string[]> {
    const io = await this.ioctx(pool);
    for (let size = 64 * 1024; ; ) {
      const buf = Buffer.alloc(size);
      const len: [number] = [size];
      try {
        const n = await this.lib.blocking('rbd_list', io, buf, len);
        return buf.toString('utf8', 0, n).split('\0').filter((s) => s !== '');
      } catch (e) {
        if (!(e instanceof RbdError && e.code === 'ERANGE')) throw e;
        size = Math.max(len[0], size * 2);
      }
    }
  }

  /** Opens an image (at a snapshot, read-only, when `snap` is given or `readOnly`). */
  async open(pool: string, name: string, opts: { snap?: string | undefined; readOnly?: boolean } = {}): Promise<RbdImage> {
    const io = await this.ioctx(pool);
    const out = Buffer.alloc(8);
    const call = opts.readOnly || opts.snap !== undefined ? 'rbd_aio_open_read_only' : 'rbd_aio_open';
    await this.lib.aio(call, [out], (c) => this.lib.sync(call, io, name, out, opts.snap ?? null, c));
    const image = new RbdImage(this.lib, out.readBigUInt64LE(0), name, () => this.images.delete(image));
    this.images.add(image);
    return image;
  }

  /**
   * Releases the connection once every image is closed by its owner (downloads and uploads
   * still running at shutdown), waiting up to `waitMs`; after that it is left to process exit.
   */
  async close(waitMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const deadline = Date.now() + waitMs; this.images.size > 0 && Date.now() < deadline; ) await sleep(50);
    if (this.images.size > 0) return;
    for (const p of this.ioctxs.values()) {
      const io = await p.catch(() => undefined);
      if (io !== undefined) this.lib.sync('rados_ioctx_destroy', io);
    }
    await this.lib.blocking('rados_shutdown', this.handle);
  }
}

/** An open image. Data calls are aio; close() must be called exactly once. */
export class RbdImage {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly lib: Librbd,
    private readonly handle: Pointer,
    readonly name: string,
    private readonly onClosed: () => void,
  ) {}

  /** Writes all of `buf` at `offset`; `buf` must stay untouched until the promise settles. */
  async write(offset: number, buf: Buffer): Promise<void> {
    const n = await this.lib.aio('rbd_aio_write2', [buf], (c) => this.lib.sync('rbd_aio_write2', this.handle, offset, buf.length, buf, c, 0));
    // a write's completion answers 0 (librbd >= 14) or the length
    if (n !== 0 && n !== buf.length) throw new Error(`rbd_aio_write2 wrote ${n} of ${buf.length} bytes of ${this.name} at ${offset}`);
  }

  /** Reads into `buf` from `offset`; resolves with the bytes read. */
  read(offset: number, buf: Buffer): Promise<number> {
    return this.lib.aio('rbd_aio_read2', [buf], (c) => this.lib.sync('rbd_aio_read2', this.handle, offset, buf.length, buf, c, 0));
  }

  async flush(): Promise<void> {
    await this.lib.aio('rbd_aio_flush', [], (c) => this.lib.sync('rbd_aio_flush', this.handle, c));
  }

  size(): number {
    const out: [bigint | number] = [0];
    this.lib.check('rbd_get_size', this.handle, out);
    return Number(out[0]);
  }

  async resize(size: number): Promise<void> {
    await this.lib.blocking('rbd_resize', this.handle, size);
  }

  /** Last modification (ms since the epoch); librbd updates it at most every rbd_mtime_update_interval (60 s). */
  modifiedAt(): number {
    const ts: { tv_sec?: bigint | number; tv_nsec?: bigint | number } = {};
    this.lib.check('rbd_get_modify_timestamp', this.handle, ts);
    return Number(ts.tv_sec ?? 0) * 1000 + Math.floor(Number(ts.tv_nsec ?? 0) / 1e6);
  }

  snapExists(snap: string): boolean {
    const out: [boolean] = [false];
    this.lib.check('rbd_snap_exists', this.handle, snap, out);
    return out[0];
  }

  async snap(op: 'create' | 'protect' | 'unprotect' | 'remove', snap: string): Promise<void> {
    await this.lib.blocking(`rbd_snap_${op}`, this.handle, snap);
  }

  /** Clones of a snapshot (Nova/Cinder volumes and disks made from this image). */
  async children(snap: string): Promise<number> {
    await this.lib.blocking('rbd_snap_set', this.handle, snap);
    try {
      const max: [number] = [0];
      try {
        await this.lib.blocking('rbd_list_children3', this.handle, null, max);
      } catch (e) {
        if (!(e instanceof RbdError && e.code === 'ERANGE')) throw e;
      }
      return Number(max[0]);
    } finally {
      await this.lib.blocking('rbd_snap_set', this.handle, null);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.lib
      .aio('rbd_aio_close', [], (c) => this.lib.sync('rbd_aio_close', this.handle, c))
      .then(() => undefined)
      .finally(this.onClosed);
    return this.closing;
  }
}

function confGet(lib: Librbd, handle: Pointer, option: string): string | undefined {
  const buf = Buffer.alloc(256);
  if (lib.sync('rados_conf_get', handle, option, buf, buf.length) < 0) return undefined;
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}

/** rbd_default_features is a number ("61") or names ("layering,exclusive-lock"). */
export function parseFeatures(value: string | undefined): bigint {
  const v = (value ?? '').trim();
  let bits = 0n;
  if (/^\d+$/.test(v)) bits = BigInt(v);
  else for (const name of v.split(/[,\s]+/).filter(Boolean)) bits |= FEATURE_BITS[name] ?? 0n;
  return bits === 0n ? FEATURE_BITS.layering! : bits;
}

export { LibrbdMissingError, RbdError };
