// Checkboxes for the stores an image goes to (multi-store deployments).

import type { StoreInfo } from '../lib/types';

export function StorePicker({ stores, value, onChange, legend = 'Stores' }: { stores: StoreInfo[]; value: string[]; onChange: (v: string[]) => void; legend?: string }) {
  if (stores.length === 0) return null;
  return (
    <fieldset class="stores">
      <legend>{legend}</legend>
      {stores.map((s) => (
        <label key={s.id} class="check">
          <input
            type="checkbox"
            name="store"
            value={s.id}
            checked={value.includes(s.id)}
            disabled={s.read_only}
            onChange={(e) => onChange(e.currentTarget.checked ? [...value, s.id] : value.filter((v) => v !== s.id))}
          />
          {s.id}
          {s.default ? ' (default)' : ''}
          {s.read_only ? ' (read-only)' : ''}
          {s.description ? <span class="muted"> — {s.description}</span> : null}
        </label>
      ))}
    </fieldset>
  );
}
