// The life of an import task, whatever the import: one image at a time (Glance's
// os_glance_import_task lock, a property holding the task id), the task moved
// pending -> processing -> success | failure, a heartbeat while it runs, the
// revert when it fails, and the lock released in every case. Unlike Glance, the
// lock lapses when its worker stops heartbeating (imago_import_lock_timeout)
// rather than after an hour, so another request or node takes it over.

import { conflict, messageOf } from '../errors/index.js';
import type { Image } from '../images/model.js';
import type { ImageRepository } from '../images/repository.js';
import type { Task, TaskRepository } from '../tasks/tasks.js';

/** The image property naming the task that holds the image. */
export const LOCK = 'os_glance_import_task';
/** Import progress, as Glance shows it: stores still to do, and those that failed. */
export const IMPORTING = 'os_glance_importing_to_stores';
export const FAILED = 'os_glance_failed_import';
/** Where the image's data waits in staging. */
export const STAGED_URL = 'os_glance_staged_url';

const HEARTBEAT_MS = 5_000;

export interface JobDeps {
  repo: ImageRepository;
  tasks: TaskRepository;
  /** Seconds without a heartbeat after which a task's lock may be taken over. */
  lockTimeoutSeconds: number;
}

export interface NewTask {
  type: 'api_image_import' | 'import' | 'location_import';
  imageId: string;
  owner: string | null;
  requestId: string | null;
  userId: string | null;
  input: object;
}

/** What the work of a running task sees. */
export interface Running {
  readonly taskId: string;
  readonly imageId: string;
  /** Fires when the task is preempted (another worker took its lock) or the server stops. */
  readonly signal: AbortSignal;
  /** The task's message from the next heartbeat on (progress). */
  progress(describe: () => string): void;
}

export interface Outcome {
  result: object;
  message?: string;
}

export class ImportJobs {
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly d: JobDeps) {}

  /**
   * Glance's _enforce_import_lock, before a new operation on `image`: 409 while a live task holds
   * it; a lock whose task vanished or stopped heartbeating is taken over: that task fails and the
   * progress it left on the image is cleared.
   */
  async clearStaleLock(image: Image): Promise<void> {
    const holder = image.properties[LOCK];
    if (holder === undefined) return;
    const task = await this.d.tasks.get(holder);
    const live = task && isRunning(task) && Date.parse(task.updated_at) >= Date.now() - this.d.lockTimeoutSeconds * 1000;
    if (live) throw conflict(`New operation on image '${image.id}' is not permitted as prior operation is still in progress`);
    if (task && isRunning(task)) await this.d.tasks.transition(task.id, 'failure', { message: 'Expired lock preempted' });
    if (!(await this.d.repo.deletePropertyAtomic(image.id, LOCK, holder))) throw conflict('Image has active task');
    if (task) await this.clearProgress(image.id, (task.input?.backend as string[] | undefined) ?? []);
  }

  /** Removes `stores` from the image's import progress (those of a task that no longer runs). */
  private async clearProgress(imageId: string, stores: string[]): Promise<void> {
    const image = await this.d.repo.get(imageId);
    if (!image) return;
    const strip = (key: string) => {
      const v = image.properties[key];
      return v === undefined ? undefined : v.split(',').filter((s) => s && !stores.includes(s)).join(',');
    };
    await this.d.repo.setProperties(imageId, { [IMPORTING]: strip(IMPORTING), [FAILED]: strip(FAILED) });
  }

  /**
   * Records the task and takes the image's lock for it. When another request took the lock
   * first, the task fails and the caller gets Glance's 409.
   */
  async begin(spec: NewTask): Promise<Task> {
    const task = await this.d.tasks.create(spec);
    if (!(await this.d.repo.setPropertyAtomic(spec.imageId, LOCK, task.id))) {
      await this.d.tasks.transition(task.id, 'failure', { message: 'Another operation holds the image' });
      throw conflict(`New operation on image '${spec.imageId}' is not permitted as prior operation is still in progress`);
    }
    return task;
  }

  /**
   * Runs the work of a task begun above, in the background: processing, heartbeats, then success
   * with the work's outcome, or `revert` and failure with the error's message. The lock is
   * released either way; a revert that fails is logged (the janitor of any node finishes it).
   */
  run(task: { id: string; imageId: string }, work: (job: Running) => Promise<Outcome>, revert: (error: unknown) => Promise<void>): void {
    void this.execute(task.id, task.imageId, work, revert);
  }

  private async execute(taskId: string, imageId: string, work: (job: Running) => Promise<Outcome>, revert: (error: unknown) => Promise<void>): Promise<void> {
    const abort = new AbortController();
    this.running.set(taskId, abort);
    let describe: (() => string) | undefined;
    const beat = setInterval(() => {
      void this.d.tasks.touch(taskId, describe?.()).then((ok) => ok || abort.abort(new Error('The task was preempted')));
    }, HEARTBEAT_MS);
    let done = false;
    try {
      if (!(await this.d.tasks.transition(taskId, 'processing'))) throw new Error('The task was preempted');
      const outcome = await work({ taskId, imageId, signal: abort.signal, progress: (d) => (describe = d) });
      done = true;
      await this.d.tasks.transition(taskId, 'success', outcome);
    } catch (e) {
      if (!done) await revert(e).catch((err) => console.error(`imago: reverting task ${taskId} of image ${imageId}:`, err));
      await this.d.tasks.transition(taskId, 'failure', { message: messageOf(e) });
    } finally {
      clearInterval(beat);
      this.running.delete(taskId);
      await this.d.repo.deletePropertyAtomic(imageId, LOCK, taskId).catch(() => undefined);
    }
  }

  /** Whether this process runs the task (its heartbeat is alive even if the database lags). */
  runsHere(taskId: string): boolean {
    return this.running.has(taskId);
  }

  /** Aborts the tasks in flight: their locks lapse and another node's janitor reverts them. */
  close(): void {
    for (const a of this.running.values()) a.abort(new Error('The server is shutting down'));
  }
}

function isRunning(task: Task): boolean {
  return task.status === 'pending' || task.status === 'processing';
}
