// The staging area of interoperable import: where PUT /stage and the download
// step of web-download/glance-download put bytes before they go to the stores.
// It is a Store like any other: a local folder by default (Glance's
// os_glance_staging_store / node_staging_uri), or an enabled backend such as
// S3 ([DEFAULT] imago_staging_store) so any API node can finish an import that
// another node staged, without a shared disk.

import type { Readable } from 'node:stream';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/options.js';
import { ingest, type IngestOptions, type IngestResult } from '../data/ingest.js';
import { FileStore } from '../stores/file.js';
import type { StoreRegistry } from '../stores/registry.js';
import { StoreError, type Store } from '../stores/store.js';

/** Staged objects are named after the image, apart from its final data. */
const PREFIX = 'staging-';
const key = (imageId: string) => `${PREFIX}${imageId}`;

export class StagingArea {
  /** `local`: a folder of this node only (the default), which other API nodes cannot read. */
  private constructor(
    readonly store: Store,
    readonly local: boolean,
  ) {}

  static async fromConfig(config: Config, stores: StoreRegistry): Promise<StagingArea> {
    const id = config.imports.stagingStore;
    if (id) {
      const store = stores.get(id);
      if (!store) throw new ConfigError(`[DEFAULT] imago_staging_store: "${id}" is not an enabled backend`);
      if (!store.capabilities.write || !store.capabilities.delete) throw new ConfigError(`[DEFAULT] imago_staging_store: "${id}" cannot store and delete data`);
      return new StagingArea(store, false);
    }
    const store = new FileStore({
      id: 'os_glance_staging_store',
      dirs: [{ path: config.imports.stagingDir, priority: 0 }],
      filePerm: 0,
      chunkSize: 1 << 20,
      thinProvisioning: false,
      locationMetadata: {},
    });
    await store.init();
    return new StagingArea(store, true);
  }

  /** Streams data into staging through the shared ingest pipeline (hashes, limits, inspection). */
  async stage(imageId: string, source: AsyncIterable<Buffer>, opts: IngestOptions): Promise<IngestResult> {
    const writer = await this.store.createWriter(key(imageId), { sizeHint: opts.declaredSize, signal: opts.signal });
    return ingest(source, writer, opts);
  }

  async open(url: string, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    return this.store.open(url, { signal });
  }

  /** Removes staged data; already gone is fine. */
  async remove(url: string | undefined): Promise<void> {
    if (!url) return;
    try {
      await this.store.delete(url);
    } catch (e) {
      if (e instanceof StoreError && (e.kind === 'not_found' || e.kind === 'bad_uri')) return;
      throw e;
    }
  }

  /** What is staged, by image, when staging is a folder (other stores are not listed). */
  async stagedFiles(): Promise<{ imageId: string; url: string }[]> {
    if (!(this.store instanceof FileStore)) return [];
    return (await this.store.list(PREFIX)).map((f) => ({ imageId: f.name.slice(PREFIX.length), url: f.url }));
  }

  /** Drops half-staged data of an image whose import died. */
  async abandon(imageId: string): Promise<void> {
    await this.store.abandon?.(key(imageId));
  }

  /** A local path for tools that need a file (qemu-img), when staging is a local folder. */
  localPath(url: string): string | undefined {
    if (!(this.store instanceof FileStore) || !url.startsWith('file://')) return undefined;
    return decodeURIComponent(new URL(url).pathname);
  }
}
