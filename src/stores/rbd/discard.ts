// Removal of half-written images (a writer's temporary image, its snapshot included). Done at
// once when the cluster answers; when it does not (the cluster stuck or down mid-upload), retried
// in the background until it does, so nothing is left behind once the cluster is back.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster } from './cluster.js';
import { isErrno } from './errors.js';

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;
const GIVE_UP_MS = 30 * 60_000;

export class Discarder {
  /** Image names with a removal retrying in the background. */
  readonly retrying = new Set<string>();
  private closed = false;

  constructor(
    private readonly cluster: () => Promise<Cluster>,
    private readonly pool: string,
    private readonly snapshot: string,
    private readonly log: { warn(msg: string): void },
  ) {}

  /** Removes the image now; when that fails for another reason than "gone", keeps retrying. Never throws. */
  async discard(name: string): Promise<void> {
    try {
      await this.removeNow(name);
    } catch (e) {
      this.log.warn(`rbd store: could not remove the half-written image ${this.pool}/${name} (${(e as Error).message}); retrying in the background`);
      this.retry(name);
    }
  }

  /** Removes the snapshot (unprotected first) and the image; an image already gone is fine. */
  async removeNow(name: string): Promise<void> {
    const cluster = await this.cluster();
    try {
      const image = await cluster.open(this.pool, name);
      try {
        if (image.snapExists(this.snapshot)) {
          await image.snap('unprotect', this.snapshot).catch((e) => {
            if (!isErrno(e, 'EINVAL')) throw e; // already unprotected
          });
          await image.snap('remove', this.snapshot);
        }
      } finally {
        await image.close();
      }
      await cluster.remove(this.pool, name);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
  }

  private retry(name: string): void {
    if (this.retrying.has(name) || this.closed) return;
    this.retrying.add(name);
    void (async () => {
      const giveUp = Date.now() + GIVE_UP_MS;
      for (let delay = FIRST_DELAY_MS; !this.closed && Date.now() < giveUp; delay = Math.min(delay * 2, MAX_DELAY_MS)) {
        await sleep(delay, undefined, { ref: false });
        if (this.closed) break;
        try {
          await this.removeNow(name);
          this.retrying.delete(name);
          return;
        } catch {
          // still unreachable: try again later
        }
      }
      this.retrying.delete(name);
      if (!this.closed) this.log.warn(`rbd store: gave up removing ${this.pool}/${name}; the store's sweep removes it once it is stale`);
    })();
  }

  close(): void {
    this.closed = true;
  }
}
