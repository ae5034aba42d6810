import type { Kysely } from 'kysely';

// Metadata definitions ("metadefs"): the tables of Glance's models_metadef, with
// integer ids (never on the wire; they order rows by insertion, as in Glance) and
// children that go with their namespace. Resource types outlive their namespaces.
// updated_at is NULL for rows loaded from files and never changed (as in Glance).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run before the typed schema exists
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('metadef_namespaces')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('namespace', 'varchar(80)', (c) => c.notNull().unique())
    .addColumn('display_name', 'varchar(80)')
    .addColumn('description', 'text')
    .addColumn('visibility', 'varchar(32)')
    .addColumn('protected', 'smallint')
    .addColumn('owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .execute();
  await db.schema.createIndex('ix_metadef_namespaces_owner').on('metadef_namespaces').column('owner').execute();

  await db.schema
    .createTable('metadef_objects')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('namespace_id', 'integer', (c) => c.notNull().references('metadef_namespaces.id').onDelete('cascade'))
    .addColumn('name', 'varchar(80)', (c) => c.notNull())
    .addColumn('description', 'text')
    // JSON array of property names, or NULL.
    .addColumn('required', 'text')
    // JSON object: property name -> property type.
    .addColumn('json_schema', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addUniqueConstraint('uq_metadef_objects_namespace_id_name', ['namespace_id', 'name'])
    .execute();

  await db.schema
    .createTable('metadef_properties')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('namespace_id', 'integer', (c) => c.notNull().references('metadef_namespaces.id').onDelete('cascade'))
    .addColumn('name', 'varchar(80)', (c) => c.notNull())
    // JSON object: the property type.
    .addColumn('json_schema', 'text', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addUniqueConstraint('uq_metadef_properties_namespace_id_name', ['namespace_id', 'name'])
    .execute();

  await db.schema
    .createTable('metadef_tags')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('namespace_id', 'integer', (c) => c.notNull().references('metadef_namespaces.id').onDelete('cascade'))
    .addColumn('name', 'varchar(80)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addUniqueConstraint('uq_metadef_tags_namespace_id_name', ['namespace_id', 'name'])
    .execute();

  await db.schema
    .createTable('metadef_resource_types')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('name', 'varchar(80)', (c) => c.notNull().unique())
    // Seeded (loaded from files) resource types are protected.
    .addColumn('protected', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .execute();

  await db.schema
    .createTable('metadef_namespace_resource_types')
    .addColumn('resource_type_id', 'integer', (c) => c.notNull().references('metadef_resource_types.id'))
    .addColumn('namespace_id', 'integer', (c) => c.notNull().references('metadef_namespaces.id').onDelete('cascade'))
    .addColumn('properties_target', 'varchar(80)')
    .addColumn('prefix', 'varchar(80)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addPrimaryKeyConstraint('pk_metadef_namespace_resource_types', ['resource_type_id', 'namespace_id'])
    .execute();
  await db.schema
    .createIndex('ix_metadef_ns_res_types_namespace_id')
    .on('metadef_namespace_resource_types')
    .column('namespace_id')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['metadef_namespace_resource_types', 'metadef_resource_types', 'metadef_tags', 'metadef_properties', 'metadef_objects', 'metadef_namespaces']) {
    await db.schema.dropTable(t).execute();
  }
}
