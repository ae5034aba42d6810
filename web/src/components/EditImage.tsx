// Editing an image: its own fields, the properties offered by the metadata
// definitions, and free-form properties. Saved as one JSON patch holding only
// what changed; the API's refusal (protected property, quota, bad value) is
// shown with its message.

import { useMemo, useState } from 'preact/hooks';
import { json } from '../lib/api';
import { imagePatch } from '../lib/patch';
import { imageNamespaces, IMAGE_RESOURCE } from '../lib/metadefs';
import { useLoad } from '../lib/useLoad';
import { CONTAINER_FORMATS, DISK_FORMATS, type Image } from '../lib/types';
import { act, notify } from './notices';
import { NamespaceFields, type Values } from './MetadefFields';

/** Typed fields edited by their own inputs; every other writable property is a string. */
const TYPED = ['name', 'visibility', 'protected', 'min_disk', 'min_ram', 'tags', 'os_hidden', 'disk_format', 'container_format'];
/** Never edited here: links, and what the API computes or guards. */
const NOT_PROPERTIES = ['self', 'file', 'schema', 'locations', 'direct_url', 'stores'];

export function isReadOnly(name: string, readOnly: Set<string>): boolean {
  return readOnly.has(name) || NOT_PROPERTIES.includes(name) || name.startsWith('os_glance_');
}

export function EditImage({ image, readOnly, onSaved }: { image: Image; readOnly: Set<string>; onSaved: (img: Image) => void }) {
  const custom = useMemo(() => {
    const v: Values = {};
    for (const [k, val] of Object.entries(image)) if (!TYPED.includes(k) && !isReadOnly(k, readOnly)) v[k] = val === null ? undefined : String(val);
    return v;
  }, [image, readOnly]);
  const [base, setBase] = useState({
    name: image.name ?? '',
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.os_hidden,
    min_disk: image.min_disk,
    min_ram: image.min_ram,
    tags: image.tags.join(', '),
    disk_format: image.disk_format ?? '',
    container_format: image.container_format ?? '',
  });
  const [values, setValues] = useState<Values>(custom);
  const [known, setKnown] = useState<Set<string>>(new Set());
  const [newKey, setNewKey] = useState('');
  const [newValue, setNewValue] = useState('');
  const [saving, setSaving] = useState(false);
  const namespaces = useLoad(imageNamespaces, []);
  const queued = image.status === 'queued';

  const set = (name: string, v: string | undefined) => setValues((vals) => ({ ...vals, [name]: v }));
  const freeForm = Object.keys(values).filter((k) => !known.has(k) && values[k] !== undefined);

  const save = async (e: Event) => {
    e.preventDefault();
    const edited: Record<string, unknown> = {
      name: base.name,
      visibility: base.visibility,
      protected: base.protected,
      os_hidden: base.os_hidden,
      min_disk: Number(base.min_disk),
      min_ram: Number(base.min_ram),
      tags: base.tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      ...(queued ? { disk_format: base.disk_format || undefined, container_format: base.container_format || undefined } : {}),
    };
    for (const [k, v] of Object.entries(values)) if (v !== undefined) edited[k] = v;
    const removed = Object.keys(custom).filter((k) => values[k] === undefined);
    const ops = imagePatch(image as Record<string, unknown>, edited, removed);
    if (ops.length === 0) {
      notify('info', 'Nothing changed.');
      return;
    }
    setSaving(true);
    let saved: Image | undefined;
    const ok = await act('Saving the image', async () => (saved = await json<Image>(`/v2/images/${image.id}`, { method: 'PATCH', patch: ops })), 'Saved.');
    setSaving(false);
    if (ok && saved) onSaved(saved);
  };

  // A namespace opens by itself when the image already has one of its properties.
  const prefixOf = (ns: { resource_type_associations?: { name: string; prefix?: string }[] }) => ns.resource_type_associations?.find((a) => a.name === IMAGE_RESOURCE)?.prefix;

  return (
    <form class="edit" onSubmit={save} aria-labelledby="edit-title">
      <h2 id="edit-title">Edit</h2>
      <div class="grid">
        <label>
          Name <input value={base.name} onInput={(e) => setBase({ ...base, name: e.currentTarget.value })} />
        </label>
        <label>
          Visibility
          <select value={base.visibility} onChange={(e) => setBase({ ...base, visibility: e.currentTarget.value })}>
            {['private', 'shared', 'community', 'public'].map((v) => (
              <option key={v}>{v}</option>
            ))}
          </select>
        </label>
        <label>
          Min disk (GiB) <input type="number" min="0" value={base.min_disk} onInput={(e) => setBase({ ...base, min_disk: Number(e.currentTarget.value) })} />
        </label>
        <label>
          Min RAM (MiB) <input type="number" min="0" value={base.min_ram} onInput={(e) => setBase({ ...base, min_ram: Number(e.currentTarget.value) })} />
        </label>
        <label>
          Tags <input value={base.tags} placeholder="a, b" onInput={(e) => setBase({ ...base, tags: e.currentTarget.value })} />
        </label>
        {queued && (
          <>
            <label>
              Disk format
              <select value={base.disk_format} onChange={(e) => setBase({ ...base, disk_format: e.currentTarget.value })}>
                <option value="">not set</option>
                {DISK_FORMATS.map((f) => (
                  <option key={f}>{f}</option>
                ))}
              </select>
            </label>
            <label>
              Container format
              <select value={base.container_format} onChange={(e) => setBase({ ...base, container_format: e.currentTarget.value })}>
                <option value="">not set</option>
                {CONTAINER_FORMATS.map((f) => (
                  <option key={f}>{f}</option>
                ))}
              </select>
            </label>
          </>
        )}
        <label class="check">
          <input type="checkbox" checked={base.protected} onChange={(e) => setBase({ ...base, protected: e.currentTarget.checked })} /> Protected (cannot be deleted)
        </label>
        <label class="check">
          <input type="checkbox" checked={base.os_hidden} onChange={(e) => setBase({ ...base, os_hidden: e.currentTarget.checked })} /> Hidden from default lists
        </label>
      </div>

      <h3>Properties from the metadata definitions</h3>
      {namespaces.error && <p class="notice error">Could not load the metadata definitions: {namespaces.error}</p>}
      {namespaces.data?.length === 0 && <p class="muted">No metadata definitions apply to images on this site.</p>}
      {namespaces.data?.map((ns) => {
        const prefix = prefixOf(ns);
        const open = prefix ? Object.keys(values).some((k) => k.startsWith(prefix) && values[k] !== undefined) : false;
        return (
          <NamespaceFields
            key={ns.namespace}
            ns={ns}
            values={values}
            onChange={set}
            open={open}
            onLoaded={(names) => setKnown((k) => new Set([...k, ...names]))}
          />
        );
      })}

      <h3>Other properties</h3>
      <div class="free-form">
        {freeForm.length === 0 && <p class="muted">None.</p>}
        {freeForm.map((k) => (
          <div class="kv" key={k}>
            <label for={`free-${k}`}>
              <code>{k}</code>
            </label>
            <input id={`free-${k}`} value={values[k] ?? ''} onInput={(e) => set(k, e.currentTarget.value)} />
            <button type="button" class="link" onClick={() => set(k, undefined)} aria-label={`Remove property ${k}`}>
              Remove
            </button>
          </div>
        ))}
        <div class="kv">
          <input aria-label="New property name" placeholder="name" value={newKey} onInput={(e) => setNewKey(e.currentTarget.value)} />
          <input aria-label="New property value" placeholder="value" value={newValue} onInput={(e) => setNewValue(e.currentTarget.value)} />
          <button
            type="button"
            disabled={!newKey.trim()}
            onClick={() => {
              const k = newKey.trim();
              if (isReadOnly(k, readOnly) || TYPED.includes(k)) {
                notify('error', `${k} is not a free-form property: it is read-only or has its own field.`);
                return;
              }
              set(k, newValue);
              setNewKey('');
              setNewValue('');
            }}
          >
            Add property
          </button>
        </div>
      </div>
      <div class="toolbar">
        <button type="submit" class="primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save changes'}
        </button>
      </div>
    </form>
  );
}
