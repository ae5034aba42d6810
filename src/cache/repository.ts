// The image cache's records in imago's database (migration 0004): what one
// node holds in its cache folder, and its prefetch queue. Every query is
// scoped to the node's reference, so API nodes sharing the database keep
// their own caches.

import { sql } from 'kysely';
import type { Db } from '../db/connect.js';

/** A row of GET /v2/cache's cached_images (times in epoch seconds, as Glance). */
export interface CachedImage {
  image_id: string;
  hits: number;
  last_accessed: number;
  last_modified: number;
  size: number;
}

export interface CacheEntry extends CachedImage {
  checksum: string;
}

const now = () => Date.now() / 1000;

export class CacheRepository {
  constructor(
    private readonly db: Db,
    private readonly node: string,
  ) {}

  private entries() {
    return this.db.selectFrom('cached_images').where('node_reference', '=', this.node);
  }

  private queue() {
    return this.db.selectFrom('cache_queue').where('node_reference', '=', this.node);
  }

  async list(): Promise<CachedImage[]> {
    return this.entries().select(['image_id', 'hits', 'last_accessed', 'last_modified', 'size']).orderBy('image_id').execute();
  }

  async get(imageId: string): Promise<CacheEntry | undefined> {
    return this.entries().select(['image_id', 'hits', 'last_accessed', 'last_modified', 'size', 'checksum']).where('image_id', '=', imageId).executeTakeFirst();
  }

  /** Records a file just committed to the cache (replacing a stale record of the same image). */
  async add(imageId: string, size: number, checksum: string): Promise<void> {
    const t = now();
    await this.db
      .insertInto('cached_images')
      .values({ node_reference: this.node, image_id: imageId, size, checksum, hits: 0, last_accessed: t, last_modified: t })
      .onConflict((oc) => oc.columns(['node_reference', 'image_id']).doUpdateSet({ size, checksum, hits: 0, last_accessed: t, last_modified: t }))
      .execute();
  }

  async hit(imageId: string): Promise<void> {
    await this.db
      .updateTable('cached_images')
      .set({ hits: sql`hits + 1`, last_accessed: now() })
      .where('node_reference', '=', this.node)
      .where('image_id', '=', imageId)
      .execute();
  }

  async remove(imageId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('cached_images').where('node_reference', '=', this.node).where('image_id', '=', imageId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async totalSize(): Promise<number> {
    const r = await this.entries().select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.val(0)).as('total')).executeTakeFirstOrThrow();
    return Number(r.total);
  }

  /** Least recently accessed first: the order the pruner evicts in. */
  async leastRecentlyAccessed(limit: number): Promise<{ image_id: string; size: number }[]> {
    return this.entries().select(['image_id', 'size']).orderBy('last_accessed').orderBy('last_modified').limit(limit).execute();
  }

  /** Entries whose image is gone or no longer has data to serve (deleted, killed, re-queued...). */
  async orphans(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('cached_images as c')
      .leftJoin('images as i', (j) => j.onRef('i.id', '=', 'c.image_id').on('i.deleted', '=', 0))
      .select('c.image_id')
      .where('c.node_reference', '=', this.node)
      .where((eb) => eb.or([eb('i.id', 'is', null), eb('i.status', 'not in', ['active', 'deactivated'])]))
      .execute();
    return rows.map((r) => r.image_id);
  }

  // --- queue ---

  /** Queues an image; false when it already is. */
  async enqueue(imageId: string): Promise<boolean> {
    const t = now();
    const r = await this.db
      .insertInto('cache_queue')
      .values({ node_reference: this.node, image_id: imageId, queued_at: t, not_before: t, attempts: 0 })
      .onConflict((oc) => oc.columns(['node_reference', 'image_id']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Queued image ids, oldest first. */
  async queued(): Promise<string[]> {
    return (await this.queue().select('image_id').orderBy('queued_at').orderBy('image_id').execute()).map((r) => r.image_id);
  }

  async isQueued(imageId: string): Promise<boolean> {
    return (await this.queue().select('image_id').where('image_id', '=', imageId).executeTakeFirst()) !== undefined;
  }

  async dequeue(imageId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('cache_queue').where('node_reference', '=', this.node).where('image_id', '=', imageId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async clearQueue(): Promise<number> {
    const r = await this.db.deleteFrom('cache_queue').where('node_reference', '=', this.node).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /**
   * Takes the oldest due entry for `leaseSeconds` (other workers of this node skip it
   * meanwhile), with how many times it was taken so far; undefined when nothing is due.
   */
  async claim(leaseSeconds: number): Promise<{ imageId: string; attempts: number } | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const t = now();
      const next = await this.queue().select(['image_id', 'attempts']).where('not_before', '<=', t).orderBy('queued_at').orderBy('image_id').limit(1).executeTakeFirst();
      if (!next) return undefined;
      const r = await this.db
        .updateTable('cache_queue')
        .set({ not_before: t + leaseSeconds, attempts: sql`attempts + 1` })
        .where('node_reference', '=', this.node)
        .where('image_id', '=', next.image_id)
        .where('not_before', '<=', t)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return { imageId: next.image_id, attempts: next.attempts + 1 };
    }
    return undefined;
  }

  /** Renews a claim, or puts an entry off after a failure: it is due again in `seconds`. */
  async postpone(imageId: string, seconds: number): Promise<void> {
    await this.db
      .updateTable('cache_queue')
      .set({ not_before: now() + seconds })
      .where('node_reference', '=', this.node)
      .where('image_id', '=', imageId)
      .execute();
  }
}
