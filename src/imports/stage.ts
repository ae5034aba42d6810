// PUT /v2/images/{id}/stage: the first half of a glance-direct import. The
// image goes queued -> uploading while its bytes stream into staging (through
// the shared ingest pipeline), and back to queued, with nothing staged, if
// anything fails.

import type { Config } from '../config/config.js';
import type { RequestContext } from '../auth/context.js';
import { conflict, ingestError, notFound, StoreError } from '../errors/index.js';
import { ingestOptions, type IngestResult } from '../data/ingest.js';
import { FormatCheck } from '../data/formatCheck.js';
import type { ImageFormatPolicy } from '../formats/index.js';
import type { ImageAuthorizer } from '../images/authz.js';
import type { Image } from '../images/model.js';
import type { ImageRepository } from '../images/repository.js';
import type { ImageService } from '../images/service.js';
import type { ImportPlugin } from './plugins.js';
import type { StagingArea } from './staging.js';
import type { StageHost } from './stageHost.js';
import { STAGED_URL } from './job.js';

/** The inspection of data entering staging, for an image. */
export type StagingCheck = (image: Image) => FormatCheck;

/**
 * Safety always; the disk_format match too, unless a decompression plugin will turn the staged
 * data into something else first (its output is inspected again, and everything is inspected
 * once more on its way into a store).
 */
export function stagingCheck(plugins: ImportPlugin[], formatPolicy: ImageFormatPolicy): StagingCheck {
  const transforms = plugins.some((p) => p.name === 'image_decompression');
  return (image) => new FormatCheck(transforms ? null : image.disk_format, image.container_format, formatPolicy);
}

export interface StagerDeps {
  config: Config;
  repo: ImageRepository;
  images: ImageService;
  authz: ImageAuthorizer;
  staging: StagingArea;
  stageHost: StageHost;
  stagingCheck: StagingCheck;
}

export class Stager {
  constructor(private readonly d: StagerDeps) {}

  async stage(ctx: RequestContext, id: string, body: AsyncIterable<Buffer>, opts: { declaredSize?: number; signal?: AbortSignal }): Promise<void> {
    if (!this.d.config.api.enabledImportMethods.includes('glance-direct')) {
      throw notFound("'glance-direct' method is not available at this site.");
    }
    const { image, access } = await this.d.images.load(ctx, id);
    this.d.authz.enforce(ctx, image, 'modify_image', access);
    if (image.status !== 'queued') throw conflict(`Image status transition from ${image.status} to uploading is not allowed`);
    if (!(await this.d.repo.transition(id, 'queued', 'uploading'))) {
      throw conflict(`Image status transition from ${(await this.d.repo.get(id))?.status ?? 'deleted'} to uploading is not allowed`);
    }
    let staged: IngestResult;
    try {
      staged = await this.d.staging.stage(
        id,
        body,
        ingestOptions(this.d.config.api, { declaredSize: opts.declaredSize, observers: [this.d.stagingCheck(image)], signal: opts.signal }),
      );
    } catch (e) {
      await this.d.repo.transition(id, 'uploading', 'queued');
      if (e instanceof StoreError && e.kind === 'duplicate') throw conflict(`The image ${id} has data on staging`);
      throw ingestError(e);
    }
    const saved = await this.d.repo.transition(id, 'uploading', 'uploading', {
      fields: { size: staged.size },
      setProperties: {
        [STAGED_URL]: staged.url,
        // only this node can read its own staging folder: other nodes relay the import here
        ...(this.d.staging.local ? this.d.stageHost.record() : {}),
      },
    });
    if (!saved) {
      await this.d.staging.remove(staged.url);
      throw conflict(`Image ${id} changed while its data was being staged`);
    }
  }
}
