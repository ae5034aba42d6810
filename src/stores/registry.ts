// Builds the stores from configuration, exactly as Glance reads it:
// - multistore: [DEFAULT] enabled_backends = id:type, ... with one [id] section
//   per store (falling back to [glance_store]) and [glance_store] default_backend;
// - legacy single store: [glance_store] stores = file, http and default_store.

import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { ConfigError, type OptionReader } from '../config/options.js';
import { importFilteringFrom, UrlPolicy } from '../net/urlPolicy.js';
import { FileStore, fileStoreOptionsFrom } from './file.js';
import { HttpStore, httpStoreOptionsFrom } from './http.js';
import { StoreError, type Store } from './store.js';

export interface DriverContext {
  config: Config;
  multistore: boolean;
  /** Default folder for a file store without a configured datadir. */
  defaultFileDir: string;
  /** Where drivers report configuration they accept but advise against. */
  log: { warn(msg: string): void };
}

export type DriverFactory = (id: string, opts: OptionReader, ctx: DriverContext) => Promise<Store>;

/** Driver types by the names Glance uses in `stores` and `enabled_backends`. */
const DRIVERS: Record<string, DriverFactory> = {
  file: async (id, opts, ctx) => {
    const store = new FileStore(fileStoreOptionsFrom(id, opts, ctx.defaultFileDir, ctx.multistore));
    await store.init();
    return store;
  },
  // Read-only; its URLs pass the same [import_filtering_opts] as web-download
  // (Glance does so for http locations since bug 2161330), on every read and redirect.
  http: async (id, opts, ctx) => {
    const policy = new UrlPolicy(importFilteringFrom(ctx.config));
    return new HttpStore({ ...httpStoreOptionsFrom(id, opts, policy), log: ctx.log });
  },
  // Loaded only when configured: the AWS SDK alone is ~12 MiB of memory.
  s3: async (id, opts, ctx) => (await import('./s3.js')).s3StoreFrom(id, opts, ctx.multistore),
  swift: async (id, opts, ctx) => {
    const { SwiftStore, swiftStoreOptionsFrom } = await import('./swift.js');
    const store = new SwiftStore(swiftStoreOptionsFrom(id, opts, { configDir: ctx.config.configDir, multistore: ctx.multistore, log: ctx.log }));
    await store.init();
    return store;
  },
  rbd: async (id, opts, ctx) => (await import('./rbd/store.js')).rbdStoreFrom(id, opts, ctx),
};

/** Legacy `stores` entries may be driver names or Python class paths (glance.store.filesystem.Store). */
const LEGACY_ALIASES: Record<string, string> = {
  filesystem: 'file',
  'glance.store.filesystem.store': 'file',
  'glance_store._drivers.filesystem.store': 'file',
  https: 'http',
  'glance.store.http.store': 'http',
  'glance_store._drivers.http.store': 'http',
  'glance.store.s3.store': 's3',
  'glance_store._drivers.s3.store': 's3',
  'swift+config': 'swift',
  'swift+http': 'swift',
  'swift+https': 'swift',
  'glance.store.swift.store': 'swift',
  'glance_store._drivers.swift.store': 'swift',
  'glance.store.rbd.store': 'rbd',
  'glance_store._drivers.rbd.store': 'rbd',
};

export class StoreRegistry {
  private constructor(
    private readonly stores: Map<string, Store>,
    readonly defaultStoreId: string,
    readonly multistore: boolean,
  ) {}

  static async fromConfig(config: Config, log: DriverContext['log'] = console): Promise<StoreRegistry> {
    const enabled = config.section('DEFAULT').dict('enabled_backends');
    const multistore = Object.keys(enabled).length > 0;
    const ctx: DriverContext = { config, multistore, defaultFileDir: join(config.dataDir, 'images'), log };
    const stores = new Map<string, Store>();

    if (multistore) {
      for (const [id, type] of Object.entries(enabled)) {
        if (id.startsWith('os_glance_')) throw new ConfigError(`enabled_backends: "${id}" is a reserved store name`);
        const factory = DRIVERS[type];
        if (!factory) throw new ConfigError(`enabled_backends: unknown store type "${type}" for "${id}"`);
        stores.set(id, await factory(id, config.section(id, config.glanceStore), ctx));
      }
      const def = config.glanceStore.str('default_backend');
      if (!def) throw new ConfigError('[glance_store] default_backend is required with enabled_backends');
      if (!stores.has(def)) throw new ConfigError(`[glance_store] default_backend "${def}" is not in enabled_backends`);
      return new StoreRegistry(stores, def, true);
    }

    const names = config.glanceStore.list('stores', ['file', 'http']).map((s) => {
      const n = s.toLowerCase();
      return LEGACY_ALIASES[n] ?? n;
    });
    for (const type of names) {
      const factory = DRIVERS[type];
      if (!factory) throw new ConfigError(`[glance_store] stores: unknown store "${type}"`);
      if (!stores.has(type)) stores.set(type, await factory(type, config.glanceStore, ctx));
    }
    const def = LEGACY_ALIASES[config.glanceStore.str('default_store', 'file')] ?? config.glanceStore.str('default_store', 'file');
    if (!stores.has(def)) throw new ConfigError(`[glance_store] default_store "${def}" is not one of stores`);
    return new StoreRegistry(stores, def, false);
  }

  get default(): Store {
    return this.stores.get(this.defaultStoreId)!;
  }

  get(id: string): Store | undefined {
    return this.stores.get(id);
  }

  all(): Store[] {
    return [...this.stores.values()];
  }

  /** The store holding a location: by its `store` metadata when set, else by URL scheme. */
  forLocation(url: string, metadata: Record<string, unknown> = {}): Store {
    const id = typeof metadata.store === 'string' ? metadata.store : undefined;
    if (id) {
      const s = this.stores.get(id);
      if (s) return s;
      throw new StoreError('unavailable', `Store "${id}" is not enabled on this node`);
    }
    const scheme = url.slice(0, Math.max(0, url.indexOf(':'))).toLowerCase();
    const s = this.all().find((x) => x.schemes.includes(scheme));
    if (!s) throw new StoreError('bad_uri', `Unknown scheme "${scheme}" in location`);
    return s;
  }

  /** The store id a location URL belongs to, when one of our stores claims it. */
  storeIdFor(url: string): string | undefined {
    return this.all().find((s) => s.ownsLocation?.(url))?.id;
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((s) => s.close?.()));
  }
}
