// One interoperable import, once accepted: acquire the bytes -> plugins ->
// every target store in parallel -> record the copies and activate the image,
// as Glance's api_image_import flow does. Progress shows in
// os_glance_importing_to_stores / os_glance_failed_import; a failure removes
// what was written and puts the image back to `queued` (copy-image leaves it
// `active`). Every byte that reaches a store goes through the shared ingest
// pipeline (hashes, limits, format inspection).

import type { Config } from '../config/config.js';
import { storeContext } from '../auth/context.js';
import { ingest, ingestOptions, type IngestResult } from '../data/ingest.js';
import { FormatCheck } from '../data/formatCheck.js';
import type { ImageFormatPolicy } from '../formats/index.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { Store } from '../stores/store.js';
import type { Image } from '../images/model.js';
import type { ImageFields, ImageRepository } from '../images/repository.js';
import type { ImageService } from '../images/service.js';
import type { ImportPlugin, Staged } from './plugins.js';
import type { StagingArea } from './staging.js';
import { STAGE_HOST } from './stageHost.js';
import { FAILED, IMPORTING, STAGED_URL, type ImportJobs, type Outcome, type Running } from './job.js';
import type { AcquireState, ImportJob, ImportSources, Source } from './sources.js';

export interface RunDeps {
  config: Config;
  repo: ImageRepository;
  images: ImageService;
  stores: StoreRegistry;
  staging: StagingArea;
  formatPolicy: ImageFormatPolicy;
  plugins: ImportPlugin[];
  jobs: ImportJobs;
  sources: ImportSources;
}

/** What a running import has done so far, for its revert. */
interface ImportState extends AcquireState {
  written: { store: Store; url: string }[];
  failedStores: string[];
}

interface Copy {
  index: number;
  result: IngestResult;
  virtualSize: number | null;
}

export class ImportRunner {
  constructor(private readonly d: RunDeps) {}

  /** Runs an accepted import (its task begun, its lock taken) in the background. */
  start(job: ImportJob): void {
    const state: ImportState = { written: [], failedStores: [] };
    this.d.jobs.run(
      { id: job.taskId, imageId: job.imageId },
      (running) => this.run(job, state, running),
      () => this.revert(job, state),
    );
  }

  private async run(job: ImportJob, state: ImportState, running: Running): Promise<Outcome> {
    let copied = 0;
    const mib = () => `Copied ${Math.floor(copied / (1 << 20))} MiB`;
    running.progress(mib);
    const before = await this.mustGet(job.imageId);
    if (job.method !== 'copy-image' && !(await this.d.repo.transition(job.imageId, ['queued', 'uploading'], 'importing'))) {
      throw new Error(`Image ${job.imageId} is not in a state to import into`);
    }
    await this.d.repo.setProperties(job.imageId, { [IMPORTING]: job.stores.join(','), [FAILED]: '' });

    const acquired = await this.d.sources.acquire(job, before, state, running.signal);
    const source: Source = acquired.staged && this.d.plugins.length ? { staged: await this.runPlugins(job, acquired.staged, state, running.signal) } : acquired;
    const copies = await this.fanOut(job, await this.mustGet(job.imageId), source, state, running.signal, (n) => (copied += n));
    await this.record(job, copies, state);
    await this.d.staging.remove(state.stagedUrl).catch(() => undefined);
    return { result: { image_id: job.imageId }, message: mib() };
  }

  /** Writes the source to every target store at once; fails unless enough of them succeeded. */
  private async fanOut(job: ImportJob, image: Image, source: Source, state: ImportState, signal: AbortSignal, count: (n: number) => void): Promise<Copy[]> {
    const results = await Promise.allSettled(
      job.stores.map(async (storeId, index): Promise<Copy> => {
        const store = this.d.stores.get(storeId)!;
        const { stream, size } = await this.d.sources.open(source, job.ctx, signal);
        const writer = await store.createWriter(job.imageId, { sizeHint: size, signal, context: storeContext(job.ctx) });
        // Copies are inspected too: data that came in as a location was never inspected.
        const format = new FormatCheck(image.disk_format, image.container_format, this.d.formatPolicy);
        const result = await ingest(countBytes(stream as AsyncIterable<Buffer>, count), writer, ingestOptions(this.d.config.api, { observers: [format], signal }));
        state.written.push({ store, url: result.url });
        if (job.method === 'copy-image' && image.checksum && result.checksum !== image.checksum) {
          throw new Error(`the copy in ${storeId} does not match the image checksum`);
        }
        return { index, result, virtualSize: format.virtualSize };
      }),
    );
    const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    results.forEach((r, i) => {
      if (r.status === 'rejected') state.failedStores.push(job.stores[i]!);
    });
    if (state.failedStores.length && job.allMustSucceed) {
      const why = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason;
      throw why instanceof Error ? why : new Error(String(why));
    }
    if (done.length === 0) throw new Error('None of the uploads finished!');
    return done.sort((a, b) => a.index - b.index);
  }

  /** The new locations (in the order the stores were asked for) and, unless copying, the image's data fields: one write. */
  private async record(job: ImportJob, copies: Copy[], state: ImportState): Promise<void> {
    const copy = job.method === 'copy-image';
    const first = copies[0]!;
    const fields: ImageFields = copy
      ? {}
      : {
          size: first.result.size,
          virtual_size: first.virtualSize,
          checksum: first.result.checksum,
          os_hash_algo: first.result.hashAlgorithm,
          os_hash_value: first.result.hashValue,
        };
    const locations = [
      ...this.d.images.sortLocations((await this.mustGet(job.imageId)).locations),
      ...copies.map(({ result }) => ({ url: result.url, metadata: result.metadata, status: 'active' })),
    ];
    const saved = await this.d.repo.transition(job.imageId, copy ? 'active' : 'importing', 'active', {
      fields,
      locations,
      setProperties: { [IMPORTING]: '', [FAILED]: state.failedStores.join(',') },
      removeProperties: [STAGED_URL, STAGE_HOST],
    });
    if (!saved) throw new Error('The image was deleted or changed during the import');
  }

  /** Undoes a failed import: written copies removed, the image back to queued (copy-image leaves it active). */
  private async revert(job: ImportJob, state: ImportState): Promise<void> {
    for (const w of state.written) await w.store.delete(w.url).catch(() => undefined);
    const image = await this.d.repo.get(job.imageId);
    if (!image) return;
    const failed = [...new Set([...state.failedStores, ...job.stores.filter((s) => !state.written.some((w) => w.store.id === s))])];
    const props: Record<string, string | undefined> = { [IMPORTING]: '', [FAILED]: failed.join(',') };
    if (job.method !== 'copy-image') {
      props[STAGED_URL] = undefined;
      props[STAGE_HOST] = undefined;
      const previous = state.previous;
      if (previous) {
        for (const k of Object.keys(image.properties)) if (!(k in previous.properties) && !k.startsWith('os_glance')) props[k] = undefined;
        for (const [k, v] of Object.entries(previous.properties)) if (!k.startsWith('os_glance')) props[k] = v;
      }
      await this.d.repo.transition(job.imageId, ['importing', 'uploading'], 'queued', {
        fields: { size: null, ...(previous ? { disk_format: previous.disk_format, container_format: previous.container_format } : {}) },
      });
      await this.d.staging.remove(state.stagedUrl);
    }
    await this.d.repo.setProperties(job.imageId, props);
  }

  /** The configured plugins, in order, on the staged data; each may replace it, change the disk format or add properties. */
  private async runPlugins(job: ImportJob, staged: Staged, state: ImportState, signal: AbortSignal): Promise<Staged> {
    let image = await this.mustGet(job.imageId);
    let generation = 0;
    for (const plugin of this.d.plugins) {
      const props: Record<string, string> = {};
      let diskFormat = image.disk_format!;
      const current = staged;
      const next = await plugin.run(current, {
        imageId: job.imageId,
        diskFormat,
        containerFormat: image.container_format!,
        roles: job.ctx.roles,
        staging: this.d.staging,
        formatPolicy: this.d.formatPolicy,
        signal,
        restage: async (src, format) => {
          // What a plugin produced is inspected before anything else reads it (qemu-img included).
          const check = new FormatCheck(format ?? diskFormat, image.container_format, this.d.formatPolicy);
          const r = await this.d.staging.stage(`${job.imageId}.${++generation}`, src, ingestOptions(this.d.config.api, { observers: [check], signal }));
          return { url: r.url, size: r.size };
        },
        setDiskFormat: (f) => (diskFormat = f),
        setProperties: (p) => Object.assign(props, p),
      });
      if (next) {
        await this.d.staging.remove(current.url);
        staged = next;
        state.stagedUrl = staged.url;
        await this.d.repo.setProperties(job.imageId, { [STAGED_URL]: staged.url });
      }
      if (diskFormat !== image.disk_format || Object.keys(props).length) {
        await this.d.repo.transition(job.imageId, 'importing', 'importing', { fields: { disk_format: diskFormat }, setProperties: props });
        image = await this.mustGet(job.imageId);
      }
    }
    return staged;
  }

  private async mustGet(id: string): Promise<Image> {
    const image = await this.d.repo.get(id);
    if (!image) throw new Error('Image has been deleted, aborting import.');
    return image;
  }
}

async function* countBytes(src: AsyncIterable<Buffer>, add: (n: number) => void): AsyncIterable<Buffer> {
  for await (const c of src) {
    add(c.length);
    yield c;
  }
}
