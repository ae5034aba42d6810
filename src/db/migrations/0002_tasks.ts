import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run before the typed schema exists
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(30)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('owner', 'varchar(255)')
    .addColumn('image_id', 'varchar(36)')
    .addColumn('request_id', 'varchar(64)')
    .addColumn('user_id', 'varchar(64)')
    // JSON documents.
    .addColumn('input', 'text')
    .addColumn('result', 'text')
    .addColumn('message', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('expires_at', 'varchar(32)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    // Running tasks touch it as a heartbeat: a stale one belongs to a worker that is gone.
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ix_tasks_image').on('tasks').column('image_id').execute();
  await db.schema.createIndex('ix_tasks_status_updated').on('tasks').columns(['status', 'updated_at']).execute();
  await db.schema.createIndex('ix_tasks_owner_created').on('tasks').columns(['owner', 'created_at']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('tasks').execute();
}
