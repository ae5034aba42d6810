// Recovery, on every node every 30 s (and at start): imports whose worker
// stopped heartbeating (a crashed process, a lost node) are failed and undone,
// their locks dropped; expired tasks are purged; writers that died are swept
// from the stores; staged data of images that are gone is removed (Glance's
// staging cleaner), e.g. images deleted on another node while this one was down.

import type { ImageRepository } from '../images/repository.js';
import type { StoreRegistry } from '../stores/registry.js';
import type { Task, TaskRepository } from '../tasks/tasks.js';
import type { StagingArea } from './staging.js';
import { STAGE_HOST } from './stageHost.js';
import { FAILED, IMPORTING, LOCK, STAGED_URL, type ImportJobs } from './job.js';
import { revertLocationImport } from './locationImport.js';
import type { ImportRequest } from './sources.js';

export interface JanitorDeps {
  repo: ImageRepository;
  tasks: TaskRepository;
  stores: StoreRegistry;
  staging: StagingArea;
  jobs: ImportJobs;
  lockTimeoutSeconds: number;
}

export class ImportJanitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: JanitorDeps) {}

  start(intervalMs = 30_000): void {
    const tick = () => void this.recoverStale().catch((e) => console.error('imago: import janitor:', e));
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Fails imports whose worker stopped heartbeating, reverts their images, drops their locks. */
  async recoverStale(): Promise<number> {
    const before = new Date(Date.now() - this.d.lockTimeoutSeconds * 1000).toISOString();
    const stale = (await this.d.tasks.stale(before)).filter((t) => !this.d.jobs.runsHere(t.id));
    for (const task of stale) await this.recover(task);
    await this.d.tasks.purgeExpired();
    for (const s of [...this.d.stores.all(), this.d.staging.store]) await s.sweep?.().catch(() => undefined);
    for (const s of await this.d.staging.stagedFiles()) {
      if (!(await this.d.repo.get(s.imageId))) await this.d.staging.remove(s.url).catch(() => undefined);
    }
    return stale.length;
  }

  private async recover(task: Task): Promise<void> {
    if (!(await this.d.tasks.transition(task.id, 'failure', { message: 'The import stopped: its worker no longer reports progress' }))) return;
    const image = task.image_id ? await this.d.repo.get(task.image_id) : undefined;
    if (!image || image.properties[LOCK] !== task.id) return;
    if (task.type === 'location_import') {
      // still proving the bytes: the location goes, the data behind it is the caller's
      if (image.status === 'importing') await revertLocationImport(this.d.repo, image.id);
    } else {
      const input = (task.input ?? {}) as { import_req?: ImportRequest; backend?: string[] };
      if (input.import_req?.method?.name !== 'copy-image' && image.status === 'importing') {
        await this.d.repo.transition(image.id, 'importing', 'queued', { fields: { size: null }, locations: [], removeProperties: [STAGED_URL, STAGE_HOST] });
        await this.d.staging.remove(image.properties[STAGED_URL]).catch(() => undefined);
      }
      // The dead worker's half-written bytes: staged data and store writes of this image.
      await this.d.staging.abandon(image.id).catch(() => undefined);
      for (const id of input.backend ?? []) await this.d.stores.get(id)?.abandon?.(image.id).catch(() => undefined);
      await this.d.repo.setProperties(image.id, { [IMPORTING]: '', [FAILED]: (input.backend ?? []).join(',') });
    }
    await this.d.repo.deletePropertyAtomic(image.id, LOCK, task.id);
  }
}
