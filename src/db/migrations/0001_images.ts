import { sql, type Kysely } from 'kysely';

// Kysely migrations take an untyped Kysely: the schema is what they create.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run before the typed schema exists
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('images')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)')
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('visibility', 'varchar(20)', (c) => c.notNull())
    .addColumn('protected', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('os_hidden', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('checksum', 'varchar(32)')
    .addColumn('os_hash_algo', 'varchar(64)')
    .addColumn('os_hash_value', 'varchar(128)')
    .addColumn('owner', 'varchar(255)')
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('container_format', 'varchar(32)')
    .addColumn('disk_format', 'varchar(32)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('deleted_at', 'varchar(32)')
    .addColumn('deleted', 'smallint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('ix_images_deleted_created').on('images').columns(['deleted', 'created_at', 'id']).execute();
  await db.schema.createIndex('ix_images_owner').on('images').column('owner').execute();
  await db.schema.createIndex('ix_images_visibility').on('images').column('visibility').execute();
  await db.schema.createIndex('ix_images_checksum').on('images').column('checksum').execute();
  await db.schema.createIndex('ix_images_os_hash_value').on('images').column('os_hash_value').execute();
  await db.schema.createIndex('ix_images_name').on('images').column('name').execute();

  await db.schema
    .createTable('image_properties')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_image_properties', ['image_id', 'name'])
    .execute();
  // Property filters look rows up by name then value.
  await db.schema.createIndex('ix_image_properties_name').on('image_properties').column('name').execute();

  await db.schema
    .createTable('image_tags')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_image_tags', ['image_id', 'value'])
    .execute();
  await db.schema.createIndex('ix_image_tags_value').on('image_tags').column('value').execute();

  await db.schema
    .createTable('image_members')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('member', 'varchar(255)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('can_share', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('pk_image_members', ['image_id', 'member'])
    .execute();
  await db.schema.createIndex('ix_image_members_member').on('image_members').columns(['member', 'status']).execute();

  await db.schema
    .createTable('image_locations')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    // Clients order locations (PATCH /locations/<n>); ids only grow.
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ix_image_locations_image').on('image_locations').column('image_id').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['image_locations', 'image_members', 'image_tags', 'image_properties', 'images']) {
    await db.schema.dropTable(t).execute();
  }
}
