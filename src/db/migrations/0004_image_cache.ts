import type { Kysely } from 'kysely';

// The image cache's records (Glance's centralized_db driver keeps them in its
// database too): one row per image cached on a node, and the node's queue of
// images to prefetch. Rows are keyed by the node's reference
// (worker_self_reference_url, else its host name): each API node has its own
// cache folder, while several workers of one node share it.
// Times are epoch seconds (REAL), as the cache API returns them.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run before the typed schema exists
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cached_images')
    .addColumn('node_reference', 'varchar(255)', (c) => c.notNull())
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    // md5 of the cached bytes: an entry only serves an image whose checksum still matches.
    .addColumn('checksum', 'varchar(32)', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_accessed', 'real', (c) => c.notNull())
    .addColumn('last_modified', 'real', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_cached_images', ['node_reference', 'image_id'])
    .execute();
  await db.schema.createIndex('ix_cached_images_lru').on('cached_images').columns(['node_reference', 'last_accessed']).execute();
  await db.schema
    .createTable('cache_queue')
    .addColumn('node_reference', 'varchar(255)', (c) => c.notNull())
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('queued_at', 'real', (c) => c.notNull())
    // A worker that takes an entry pushes this into the future (a lease it renews while
    // fetching); a failed fetch pushes it further (retry later). Due when <= now.
    .addColumn('not_before', 'real', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('pk_cache_queue', ['node_reference', 'image_id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('cache_queue').execute();
  await db.schema.dropTable('cached_images').execute();
}
