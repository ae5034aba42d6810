// librados/librbd from Node, through koffi (a maintained FFI library) — the native binding access
// of the rbd store, and nothing else. Everything above this file speaks promises.
//
// Why koffi and not a Node-API addon (the criteria of issue 9, and what was measured here):
// - `npm ci` must succeed on a machine without librbd or a compiler: koffi ships its prebuilt
//   binary in an npm package (@koromix/koffi-linux-x64, 2.3 MB), so nothing is compiled and
//   nothing of Ceph is needed at install time (its install script only re-checks the prebuilt
//   binary and is not allowed to run: package.json allowScripts). librbd.so.1/librados.so.2 are
//   dlopen()ed when an rbd store starts; without them the store fails at start with a message
//   naming the Debian packages, and no other store notices. An addon would need g++ and
//   librbd-dev/librados-dev on every machine that builds imago, and an optional build step.
// - No call may block the event loop: the data path uses librbd's aio API (rbd_aio_open,
//   _read2, _write2, _flush, _close). Their completions are called on librbd's own threads;
//   koffi (>= 2.x "asynchronous callbacks") forwards such a call to the main thread through a
//   napi thread-safe function. The libuv pool is not used for them at all. The few calls
//   librbd has no aio form for (connect, create, resize, snapshots, rename, remove, list) run
//   through koffi's `.async` on the libuv pool, at most BLOCKING_SLOTS at a time, so fs, dns and
//   zlib keep 2 of the pool's 4 threads however many uploads run.
// - A stuck cluster times out: see cluster.ts (client_mount_timeout, rados_mon_op_timeout,
//   rados_osd_op_timeout); librbd then completes the pending aio with -ETIMEDOUT.
// Measured (256 MiB, memstore, 8 MiB ops, 2 loaded cores): aio writes 300-400 MiB/s with 4 in
// flight, reads 500-800 MiB/s; the addon POC in shared/recipes reached about the same. Buffers
// are passed to librbd without a copy (koffi hands over the Buffer's memory), so a Buffer must
// stay alive and untouched until its completion: `aio()` keeps a reference to it.
//
// Pitfall found on the way: koffi's thread-safe function does not keep Node alive. With aio in
// flight and nothing else pending, Node would exit while librbd is about to call back into it
// (a crash). A timer is kept referenced while any aio is pending.

import { constants } from 'node:os';

/** A C pointer as koffi returns it (librados/librbd handles are opaque). */
export type Pointer = bigint;

/** How many blocking librados/librbd calls may occupy the libuv pool (4 threads) at once. */
const BLOCKING_SLOTS = 2;

/** Debian packages that provide the shared libraries (pulled in by ceph-common too). */
export const LIBRBD_PACKAGES = 'librbd1 librados2';

/** A failed librados/librbd call: `errno` is the positive errno, `code` its name (ENOENT...). */
export class RbdError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(
    readonly call: string,
    rc: number,
  ) {
    const errno = Math.abs(rc);
    const code = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
    super(`${call} failed: ${code} (-${errno})`);
    this.errno = errno;
    this.code = code;
  }
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));

/** The library could not be loaded: the message says what to install. */
export class LibrbdMissingError extends Error {}

// koffi's function objects: callable, plus `.async(...args, cb)` that runs on the libuv pool.
type Fn = ((...args: unknown[]) => unknown) & { async: (...args: unknown[]) => void };

interface Pending {
  settle: (rc: number) => void;
  /** Buffers librbd reads from or writes into until the completion: kept alive here. */
  keep: readonly unknown[];
}

/** The loaded libraries: typed wrappers for the calls the rbd store makes. */
export class Librbd {
  private readonly pending = new Map<Pointer, Pending>();
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly waiting: (() => void)[] = [];
  private busy = 0;
  private readonly onComplete: unknown;

  /** Use Librbd.load(). */
  constructor(
    private readonly f: Record<string, Fn>,
    register: (cb: (c: Pointer) => void) => unknown,
    readonly version: string,
  ) {
    this.onComplete = register((c) => this.completed(c));
  }

  /** dlopen()s librados/librbd (once per process). */
  static load(): Promise<Librbd> {
    loaded ??= loadLibraries();
    return loaded;
  }

  // --- calls that never block (local state or queued by librbd) --------------------------------

  sync(name: string, ...args: unknown[]): number {
    return Number(this.fn(name)(...args));
  }

  /** Like sync() but throws RbdError on a negative result. */
  check(name: string, ...args: unknown[]): number {
    const rc = this.sync(name, ...args);
    if (rc < 0) throw new RbdError(name, rc);
    return rc;
  }

  // --- calls that block: on the libuv pool, BLOCKING_SLOTS at a time --------------------------

  async blocking(name: string, ...args: unknown[]): Promise<number> {
    await this.slot();
    try {
      const rc = await new Promise<number>((resolve, reject) =>
        this.fn(name).async(...args, (err: unknown, res: unknown) => (err ? reject(err) : resolve(Number(res ?? 0)))),
      );
      if (rc < 0) throw new RbdError(name, rc);
      return rc;
    } finally {
      this.busy--;
      this.waiting.shift()?.();
    }
  }

  private slot(): Promise<void> {
    if (this.busy < BLOCKING_SLOTS) {
      this.busy++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.busy++;
        resolve();
      }),
    );
  }

  // --- aio: submitted from the main thread, completed by librbd's threads ----------------------

  /**
   * Runs one librbd aio call: `submit` gets a fresh completion and returns the call's result.
   * Resolves with the completion's return value (bytes for reads/writes), rejects on < 0.
   */
  aio(name: string, keep: readonly unknown[], submit: (completion: Pointer) => number): Promise<number> {
    const out: [Pointer | null] = [null];
    this.check('rbd_aio_create_completion', null, this.onComplete, out);
    const c = out[0]!;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(c, { settle: (rc) => (rc < 0 ? reject(new RbdError(name, rc)) : resolve(rc)), keep });
      this.keepAlive ??= setInterval(() => undefined, 1 << 30);
      let rc: number;
      try {
        rc = submit(c);
      } catch (e) {
        this.drop(c);
        reject(e);
        return;
      }
      if (rc < 0) {
        this.drop(c);
        reject(new RbdError(name, rc));
      }
    });
  }

  /** Called on the main thread (koffi relays librbd's callback thread to it). */
  private completed(c: Pointer): void {
    const p = this.pending.get(c);
    const rc = Number(this.fn('rbd_aio_get_return_value')(c));
    this.drop(c);
    p?.settle(rc);
  }

  private drop(c: Pointer): void {
    this.pending.delete(c);
    this.fn('rbd_aio_release')(c);
    if (this.pending.size === 0 && this.keepAlive) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  private fn(name: string): Fn {
    const f = this.f[name];
    if (!f) throw new Error(`librbd binding: ${name} is not declared`);
    return f;
  }
}

let loaded: Promise<Librbd> | undefined;

/** C prototypes, as librados.h/librbd.h (Ceph >= 14) declare them; handles are `void *`. */
const RADOS = [
  'int rados_create(_Out_ void **cluster, const char *id)',
  'int rados_conf_read_file(void *cluster, const char *path)',
  'int rados_conf_set(void *cluster, const char *option, const char *value)',
  'int rados_conf_get(void *cluster, const char *option, _Out_ uint8_t *buf, size_t len)',
  'int rados_connect(void *cluster)',
  'void rados_shutdown(void *cluster)',
  'int rados_cluster_fsid(void *cluster, _Out_ uint8_t *buf, size_t len)',
  'int rados_ioctx_create(void *cluster, const char *pool, _Out_ void **ioctx)',
  'void rados_ioctx_destroy(void *ioctx)',
];
const RBD = [
  'void rbd_version(_Out_ int *major, _Out_ int *minor, _Out_ int *extra)',
  'int rbd_aio_create_completion(void *arg, rbd_callback_t *cb, _Out_ void **c)',
  'int64_t rbd_aio_get_return_value(void *c)',
  'void rbd_aio_release(void *c)',
  // the image handle is written when the open completes: `image` is a Buffer kept alive by aio()
  'int rbd_aio_open(void *ioctx, const char *name, void *image, const char *snap, void *c)',
  'int rbd_aio_open_read_only(void *ioctx, const char *name, void *image, const char *snap, void *c)',
  'int rbd_aio_close(void *image, void *c)',
  'int rbd_aio_write2(void *image, uint64_t off, size_t len, const uint8_t *buf, void *c, int op_flags)',
  'int rbd_aio_read2(void *image, uint64_t off, size_t len, uint8_t *buf, void *c, int op_flags)',
  'int rbd_aio_flush(void *image, void *c)',
  'int rbd_create2(void *ioctx, const char *name, uint64_t size, uint64_t features, _Inout_ int *order)',
  'int rbd_remove(void *ioctx, const char *name)',
  'int rbd_rename(void *ioctx, const char *src, const char *dst)',
  'int rbd_list(void *ioctx, uint8_t *names, _Inout_ size_t *size)',
  'int rbd_resize(void *image, uint64_t size)',
  'int rbd_get_size(void *image, _Out_ uint64_t *size)',
  'int rbd_get_modify_timestamp(void *image, _Out_ rbd_timespec *ts)',
  'int rbd_snap_exists(void *image, const char *snap, _Out_ bool *exists)',
  'int rbd_snap_set(void *image, const char *snap)',
  'int rbd_snap_create(void *image, const char *snap)',
  'int rbd_snap_protect(void *image, const char *snap)',
  'int rbd_snap_unprotect(void *image, const char *snap)',
  'int rbd_snap_remove(void *image, const char *snap)',
  // called with no array and *max = 0 it answers -ERANGE and the number of children in *max
  'int rbd_list_children3(void *image, void *images, _Inout_ size_t *max)',
];

async function loadLibraries(): Promise<Librbd> {
  let koffi: typeof import('koffi').default;
  try {
    koffi = (await import('koffi')).default;
  } catch (e) {
    throw new LibrbdMissingError(
      `the rbd store needs the npm package "koffi" (a dependency of imago: run "npm ci"): ${(e as Error).message}`,
    );
  }
  let rados: ReturnType<typeof koffi.load>;
  let rbd: ReturnType<typeof koffi.load>;
  try {
    rados = koffi.load('librados.so.2');
    rbd = koffi.load('librbd.so.1');
  } catch (e) {
    throw new LibrbdMissingError(
      `the rbd store needs Ceph's client libraries librbd.so.1 and librados.so.2, which are not installed: ` +
        `apt-get install ${LIBRBD_PACKAGES} (Debian/Ubuntu; also pulled in by ceph-common). ${(e as Error).message}`,
    );
  }
  const callback = koffi.proto('void rbd_callback_t(void *c, void *arg)');
  koffi.struct('rbd_timespec', { tv_sec: 'int64_t', tv_nsec: 'long' });
  const f: Record<string, Fn> = {};
  for (const [lib, protos] of [
    [rados, RADOS],
    [rbd, RBD],
  ] as const) {
    for (const proto of protos) {
      const name = /\s\**(\w+)\(/.exec(proto)![1]!;
      f[name] = lib.func(proto) as unknown as Fn;
    }
  }
  const v: [number[], number[], number[]] = [[0], [0], [0]];
  f.rbd_version!(...v);
  return new Librbd(
    f,
    (cb) => koffi.register((c: Pointer) => cb(c), koffi.pointer(callback)),
    v.map((x) => x[0]).join('.'),
  );
}
