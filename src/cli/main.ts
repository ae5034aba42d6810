#!/usr/bin/env -S node --max-semi-space-size=1
// imago command line: `imago serve` (the API, N workers), `imago db sync` and
// `imago db load-metadefs`.

import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError, type Config } from '../config/config.js';
import { migrate, openDatabase } from '../db/connect.js';
import { createServer } from '../server.js';
import { DEFAULT_METADEFS_PATH, describeReport, loadMetadefs, LoadError } from '../metadefs/loader.js';
import { MetadefRepository } from '../metadefs/repository.js';

const USAGE = `usage: imago <command> [options]

commands:
  serve          run the Images API
  db sync        create or upgrade the database schema
  db load-metadefs [--path DIR|FILE] [--merge [--prefer-new|--overwrite]]
                 load metadata definitions from JSON files (default
                 ${DEFAULT_METADEFS_PATH}, where Glance's are installed);
                 namespaces already present are skipped, unless --merge adds
                 what they lack (--prefer-new: and updates what both have;
                 --overwrite: replaces them)

options:
  --config-file FILE   glance-api.conf style file (repeatable; later files win)
  --config-dir DIR     read every *.conf in DIR after the files
  --bind-host HOST     (default 127.0.0.1, or [DEFAULT] bind_host)
  --bind-port PORT     (default 9292, or [DEFAULT] bind_port)
  --workers N          API processes (default 1, or [DEFAULT] workers)
  --data-dir DIR       where the embedded defaults live (default ./data)
  --set SECTION.KEY=VALUE   override any option (repeatable)

environment: IMAGO_CONFIG_FILE, IMAGO_BIND_HOST, IMAGO_BIND_PORT, IMAGO_WORKERS,
             IMAGO_DATA_DIR, IMAGO_DATABASE_CONNECTION, IMAGO_PUBLIC_ENDPOINT`;

interface LoadFlags {
  path?: string;
  merge?: boolean;
  'prefer-new'?: boolean;
  overwrite?: boolean;
}

function configFrom(argv: string[]): { config: Config; rest: string[]; flags: LoadFlags } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'config-file': { type: 'string', multiple: true },
      'config-dir': { type: 'string' },
      'bind-host': { type: 'string' },
      'bind-port': { type: 'string' },
      workers: { type: 'string' },
      'data-dir': { type: 'string' },
      set: { type: 'string', multiple: true },
      // db load-metadefs
      path: { type: 'string' },
      merge: { type: 'boolean' },
      'prefer-new': { type: 'boolean' },
      overwrite: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const set = [...(values.set ?? [])];
  if (values['bind-host']) set.push(`DEFAULT.bind_host=${values['bind-host']}`);
  if (values['bind-port']) set.push(`DEFAULT.bind_port=${values['bind-port']}`);
  if (values.workers) set.push(`DEFAULT.workers=${values.workers}`);
  if (values['data-dir']) set.push(`DEFAULT.imago_data_dir=${values['data-dir']}`);
  const config = loadConfig({
    configFiles: values['config-file'] ?? [],
    configDir: values['config-dir'],
    set,
    env: process.env,
  });
  return { config, rest: positionals, flags: values };
}

async function serve(config: Config): Promise<void> {
  const { bindHost, bindPort, workers } = config.server;
  if (cluster.isPrimary) {
    // Schema changes happen once, before any worker takes requests.
    const db = openDatabase(config.database.connection);
    await migrate(db);
    await db.destroy();
    if (workers > 1) {
      for (let i = 0; i < workers; i++) cluster.fork();
      cluster.on('exit', (w, code, signal) => {
        if (signal !== 'SIGTERM' && signal !== 'SIGINT' && code !== 0) {
          console.error(`imago: worker ${w.process.pid} exited (${signal ?? code}); starting another`);
          cluster.fork();
        }
      });
      const stop = () => {
        for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      // Workers share one listening socket; its port (chosen by the OS for port 0) is known once one listens.
      cluster.once('listening', (_w, addr) => {
        console.log(`imago: serving the Images API on http://${bindHost}:${addr.port} (${workers} workers, data in ${config.dataDir})`);
      });
      return;
    }
  }
  const server = await createServer(config, { migrate: false });
  await server.app.listen({ host: bindHost, port: bindPort });
  const address = server.app.server.address();
  const port = typeof address === 'object' && address ? address.port : bindPort;
  if (cluster.isPrimary) console.log(`imago: serving the Images API on http://${bindHost}:${port} (data in ${config.dataDir})`);
  const shutdown = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

async function loadMetadefsCommand(config: Config, flags: LoadFlags): Promise<void> {
  const db = openDatabase(config.database.connection);
  try {
    // Like serve, bring the schema up to date first: loading into a fresh database just works.
    await migrate(db);
    const report = await loadMetadefs(new MetadefRepository(db, true), {
      path: flags.path ?? DEFAULT_METADEFS_PATH,
      merge: flags.merge,
      preferNew: flags['prefer-new'],
      overwrite: flags.overwrite,
    });
    for (const line of describeReport(report)) console.log(line);
    if (report.failed.length) process.exitCode = 1;
  } catch (e) {
    if (e instanceof LoadError) throw new ConfigError(`db load-metadefs: ${e.message}`);
    throw e;
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  if (!command || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  if (command === 'serve') {
    await serve(configFrom(args).config);
  } else if (command === 'db') {
    const { config, rest, flags } = configFrom(args);
    if (rest[0] === 'sync') {
      const db = openDatabase(config.database.connection);
      const applied = await migrate(db);
      await db.destroy();
      console.log(applied.length ? `imago: applied ${applied.join(', ')}` : 'imago: database schema is up to date');
    } else if (rest[0] === 'load-metadefs') {
      await loadMetadefsCommand(config, flags);
    } else {
      throw new ConfigError(`unknown db command "${rest[0] ?? ''}" (expected: db sync, db load-metadefs)`);
    }
  } else {
    throw new ConfigError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main().catch((e) => {
  console.error(e instanceof ConfigError ? `imago: ${e.message}` : e);
  process.exit(e instanceof ConfigError ? 2 : 1);
});
