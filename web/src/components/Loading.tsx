// A load in progress, or the reason it failed with a way to try again.

import type { ComponentChildren } from 'preact';

export function Loading({ error, retry, children }: { error?: string; retry?: () => void; children?: ComponentChildren }) {
  if (error)
    return (
      <div class="notice error" role="alert">
        <span>{error}</span>
        {retry && (
          <button type="button" onClick={retry}>
            Try again
          </button>
        )}
      </div>
    );
  return (
    <p class="muted" aria-busy="true">
      {children ?? 'Loading…'}
    </p>
  );
}
