// An import or copy as it runs: the image's status, the stores still being
// written (os_glance_importing_to_stores), those done and those that failed,
// and the task's own status and message, refreshed every second until done.

import { useEffect, useState } from 'preact/hooks';
import { json } from '../lib/api';
import type { Image, Task } from '../lib/types';
import { describe } from './notices';

const list = (v: unknown) =>
  String(v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function importRunning(img: Image): boolean {
  return list(img.os_glance_importing_to_stores).length > 0 || img.status === 'importing' || Boolean(img.os_glance_import_task);
}

export function ImportProgress({ imageId, onDone }: { imageId: string; onDone?: (img: Image) => void }) {
  const [img, setImg] = useState<Image>();
  const [task, setTask] = useState<Task>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const [i, t] = await Promise.all([json<Image>(`/v2/images/${imageId}`), json<{ tasks: Task[] }>(`/v2/images/${imageId}/tasks`)]);
        if (!live) return;
        setImg(i);
        setTask(t.tasks[0]);
        setError(undefined);
        const taskDone = !t.tasks[0] || ['success', 'failure'].includes(t.tasks[0].status);
        if (!importRunning(i) && taskDone) {
          onDone?.(i);
          return;
        }
      } catch (e) {
        // A failing network is said, and polling goes on: the import runs on the server anyway.
        if (live) setError(`Cannot follow the import right now (${describe(e)}); still trying.`);
      }
      if (live) timer = setTimeout(tick, 1000);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [imageId]);

  if (!img) return <p class="muted">{error ?? 'Starting the import…'}</p>;
  const importing = list(img.os_glance_importing_to_stores);
  const failed = list(img.os_glance_failed_import);
  const stores = list(img.stores);
  const total = importing.length + failed.length + stores.length;
  const running = importRunning(img) || (task !== undefined && !['success', 'failure'].includes(task.status));
  return (
    <div class="import-progress" data-testid="import-progress" aria-live="polite">
      <p>
        Image <strong>{img.status}</strong>
        {running ? ' — import running' : ' — import finished'}
        {task && (
          <>
            ; task <strong data-testid="task-status">{task.status}</strong>
            {task.message ? `: ${task.message}` : ''}
          </>
        )}
      </p>
      {total > 0 && <progress max={total} value={stores.length + failed.length} aria-label="Stores done" />}
      <ul class="stores-progress">
        {stores.map((s) => (
          <li key={s} class="ok">
            {s}: done
          </li>
        ))}
        {importing.map((s) => (
          <li key={s}>{s}: in progress…</li>
        ))}
        {failed.map((s) => (
          <li key={s} class="bad">
            {s}: failed
          </li>
        ))}
      </ul>
      {error && <p class="notice error">{error}</p>}
    </div>
  );
}
