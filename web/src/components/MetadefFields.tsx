// One form field per metadata definition property: enums as selects,
// booleans as yes/no, numbers with their bounds, arrays as lists; the
// description as the field's hint and the default as its placeholder. Image
// properties are strings on the wire, whatever the definition's type.

import { useEffect, useState } from 'preact/hooks';
import { imageProperties, type MetadefProperty, type NamespaceSummary } from '../lib/metadefs';
import { describe } from './notices';

export type Values = Record<string, string | undefined>;

const fieldId = (name: string) => `prop-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;

function Field({ name, def, value, onChange }: { name: string; def: MetadefProperty; value: string | undefined; onChange: (v: string | undefined) => void }) {
  const id = fieldId(name);
  const hint = def.description ? `${id}-hint` : undefined;
  const set = (v: string) => onChange(v === '' ? undefined : v);
  const placeholder = def.default !== undefined ? `default: ${String(def.default)}` : undefined;
  let input;
  if (def.enum || def.type === 'boolean') {
    const options = def.enum ?? ['true', 'false'];
    input = (
      <select id={id} aria-describedby={hint} value={value ?? ''} disabled={def.readonly} onChange={(e) => set(e.currentTarget.value)}>
        <option value="">{placeholder ?? 'not set'}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else if (def.type === 'integer' || def.type === 'number') {
    input = (
      <input
        id={id}
        type="number"
        aria-describedby={hint}
        min={def.minimum}
        max={def.maximum}
        step={def.type === 'integer' ? 1 : 'any'}
        placeholder={placeholder}
        value={value ?? ''}
        disabled={def.readonly}
        onInput={(e) => set(e.currentTarget.value)}
      />
    );
  } else {
    input = (
      <input
        id={id}
        aria-describedby={hint}
        placeholder={placeholder ?? (def.type === 'array' ? `${def.items?.enum ? def.items.enum.join(', ') : 'a, b'}` : undefined)}
        minLength={def.minLength}
        maxLength={def.maxLength}
        pattern={def.pattern}
        value={value ?? ''}
        disabled={def.readonly}
        onInput={(e) => set(e.currentTarget.value)}
      />
    );
  }
  return (
    <div class="field">
      <label for={id}>
        {def.title ?? name} <code>{name}</code>
        {def.readonly ? ' (read-only)' : ''}
      </label>
      {input}
      {def.description && (
        <small id={hint} class="muted">
          {def.description}
        </small>
      )}
    </div>
  );
}

/** A namespace as a collapsible group; its definitions are loaded when opened. */
export function NamespaceFields({ ns, values, onChange, onLoaded, open }: { ns: NamespaceSummary; values: Values; onChange: (name: string, v: string | undefined) => void; onLoaded: (names: string[]) => void; open: boolean }) {
  const [props, setProps] = useState<Record<string, MetadefProperty>>();
  const [error, setError] = useState<string>();
  const [shown, setShown] = useState(open);
  useEffect(() => {
    if (!shown || props) return;
    imageProperties(ns).then(
      (p) => {
        setProps(p);
        onLoaded(Object.keys(p));
      },
      (e) => setError(describe(e)),
    );
  }, [shown]);
  return (
    <details class="namespace" open={open} onToggle={(e) => setShown((e.currentTarget as HTMLDetailsElement).open)} data-namespace={ns.namespace}>
      <summary>
        {ns.display_name ?? ns.namespace} <span class="muted">{ns.namespace}</span>
      </summary>
      {ns.description && <p class="muted">{ns.description}</p>}
      {error && <p class="notice error">Could not load the definitions: {error}</p>}
      {shown && !props && !error && <p class="muted">Loading…</p>}
      {props &&
        Object.entries(props).map(([name, def]) => <Field key={name} name={name} def={def} value={values[name]} onChange={(v) => onChange(name, v)} />)}
    </details>
  );
}
