// Opens the metadata database named by [database] connection (SQLAlchemy URL
// syntax, as glance-api.conf writes it) and runs the schema migrations.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import { ConfigError } from '../config/options.js';
import type { Database } from './schema.js';
import * as m0001 from './migrations/0001_images.js';
import * as m0002 from './migrations/0002_tasks.js';
import * as m0003 from './migrations/0003_metadefs.js';
import * as m0004 from './migrations/0004_image_cache.js';

const MIGRATIONS: Record<string, Migration> = {
  '0001_images': m0001,
  '0002_tasks': m0002,
  '0003_metadefs': m0003,
  '0004_image_cache': m0004,
};

class StaticMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export type Db = Kysely<Database>;

/** sqlite:////abs/path, sqlite:///relative/path, sqlite:// (in memory); `?…` options are ignored. */
export function sqlitePathFromUrl(url: string, cwd = process.cwd()): string {
  const m = /^sqlite(?:\+\w+)?:\/\/(\/?)(.*?)(\?.*)?$/.exec(url);
  if (!m) throw new ConfigError(`[database] connection: unsupported URL "${url}"`);
  const rest = m[2]!;
  if (m[1] === '' && rest === '') return ':memory:';
  return rest.startsWith('/') ? rest : resolve(cwd, rest);
}

export function openDatabase(connection: string): Db {
  if (!/^sqlite/.test(connection)) {
    const scheme = connection.split(':')[0];
    throw new ConfigError(
      `[database] connection: "${scheme}" databases are not supported yet by this build; use sqlite:///path`,
    );
  }
  const path = sqlitePathFromUrl(connection);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // Several workers share the file: wait for a writer instead of failing.
  sqlite.pragma('busy_timeout = 10000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** `imago db sync`: applies every pending migration; safe to run repeatedly. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
