// Messages to the user: every failed call ends here with the API's own
// message (nothing fails silently); errors are announced by screen readers.

import { Store, useStore } from '../lib/store';
import { ApiError } from '../lib/api';

export interface Notice {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

const notices = new Store<Notice[]>([]);
let next = 1;

export function notify(kind: Notice['kind'], text: string): void {
  const n = { id: next++, kind, text };
  notices.set([...notices.get().slice(-4), n]);
  if (kind === 'info') setTimeout(() => dismiss(n.id), 6000);
}

export function dismiss(id: number): void {
  notices.set(notices.get().filter((n) => n.id !== id));
}

export function describe(e: unknown): string {
  if (e instanceof ApiError) return e.status ? `${e.status}: ${e.message}` : e.message;
  return e instanceof Error ? e.message : String(e);
}

/** Runs an action and reports its failure (and, optionally, its success). */
export async function attempt<T>(what: string, fn: () => Promise<T>, done?: string): Promise<T | undefined> {
  try {
    const v = await fn();
    if (done) notify('info', done);
    return v;
  } catch (e) {
    notify('error', `${what} failed — ${describe(e)}`);
    return undefined;
  }
}

/** An action whose result does not matter: true when it succeeded. */
export async function act(what: string, fn: () => Promise<unknown>, done?: string): Promise<boolean> {
  return (await attempt(what, async () => (await fn(), true), done)) === true;
}

export function Notices() {
  const list = useStore(notices);
  return (
    <div class="notices">
      <div role="alert" aria-live="assertive">
        {list
          .filter((n) => n.kind === 'error')
          .map((n) => (
            <p class="notice error" key={n.id} data-testid="error">
              <span>{n.text}</span>
              <button type="button" class="link" onClick={() => dismiss(n.id)} aria-label="Dismiss this message">
                ×
              </button>
            </p>
          ))}
      </div>
      <div role="status" aria-live="polite">
        {list
          .filter((n) => n.kind === 'info')
          .map((n) => (
            <p class="notice info" key={n.id}>
              <span>{n.text}</span>
              <button type="button" class="link" onClick={() => dismiss(n.id)} aria-label="Dismiss this message">
                ×
              </button>
            </p>
          ))}
      </div>
    </div>
  );
}
