// One image: every property (read-only ones marked), data and hashes, stores
// and locations, tasks; actions (copy to stores, delete from one store,
// deactivate/reactivate, download, delete), editing and sharing.

import { useState } from 'preact/hooks';
import { call, json } from '../lib/api';
import { discovery } from '../lib/discovery';
import { downloadImage } from '../lib/download';
import { bytes, date } from '../lib/format';
import { go, href } from '../lib/router';
import { isAdmin } from '../lib/session';
import type { Image, Task } from '../lib/types';
import { useLoad } from '../lib/useLoad';
import { act } from '../components/notices';
import { Loading } from '../components/Loading';
import { EditImage, isReadOnly } from '../components/EditImage';
import { ImportProgress, importRunning } from '../components/ImportProgress';
import { Members } from '../components/Members';
import { StorePicker } from '../components/StorePicker';

interface Schema {
  properties: Record<string, { readOnly?: boolean; description?: string }>;
}

let schemaPromise: Promise<Schema> | undefined;
const imageSchema = () => (schemaPromise ??= json<Schema>('/v2/schemas/image').catch((e) => ((schemaPromise = undefined), Promise.reject(e))));

const storesOf = (img: Image) =>
  String(img.stores ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function DetailPage({ id }: { id: string }) {
  const image = useLoad(() => json<Image>(`/v2/images/${id}`), [id]);
  const schema = useLoad(imageSchema, []);
  const tasks = useLoad(() => json<{ tasks: Task[] }>(`/v2/images/${id}/tasks`), [id]);
  const info = useLoad(discovery, []);
  const [copyTo, setCopyTo] = useState<string[]>([]);
  const [following, setFollowing] = useState(false);

  if (!image.data) return <Loading error={image.error} retry={image.reload} />;
  const img = image.data;
  const readOnly = new Set(Object.entries(schema.data?.properties ?? {}).filter(([, p]) => p.readOnly).map(([k]) => k));
  const stores = storesOf(img);
  const reload = () => {
    image.reload();
    tasks.reload();
  };

  const action = async (what: string, path: string, done: string) => {
    if (await act(what, () => call(path, { method: 'POST' }), done)) reload();
  };

  return (
    <section aria-labelledby="detail-title">
      <p>
        <a href={href('images')}>← Images</a>
      </p>
      <div class="title-row">
        <h1 id="detail-title">{img.name || img.id}</h1>
        <span class={`status status-${img.status}`} data-testid="image-status">
          {img.status}
        </span>
      </div>
      <div class="toolbar" role="group" aria-label="Actions">
        <button type="button" disabled={img.status !== 'active'} onClick={() => act('Downloading', () => downloadImage(img.id, img.name ?? img.id, img.size))}>
          Download
        </button>
        {img.status === 'active' && (
          <button type="button" onClick={() => action('Deactivating', `/v2/images/${img.id}/actions/deactivate`, 'Deactivated.')}>
            Deactivate
          </button>
        )}
        {img.status === 'deactivated' && (
          <button type="button" onClick={() => action('Reactivating', `/v2/images/${img.id}/actions/reactivate`, 'Reactivated.')}>
            Reactivate
          </button>
        )}
        <button
          type="button"
          class="danger"
          onClick={async () => {
            if (!confirm(`Delete image ${img.name ?? img.id}? This cannot be undone.`)) return;
            if (await act('Deleting the image', () => call(`/v2/images/${img.id}`, { method: 'DELETE' }), 'Image deleted.')) go('images');
          }}
        >
          Delete
        </button>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </div>

      <h2>Data</h2>
      <dl class="props">
        <dt>Size</dt>
        <dd>{bytes(img.size)}</dd>
        <dt>Virtual size</dt>
        <dd>{bytes(img.virtual_size)}</dd>
        <dt>Disk / container format</dt>
        <dd>
          {img.disk_format ?? '—'} / {img.container_format ?? '—'}
        </dd>
        <dt>Checksum (md5)</dt>
        <dd>
          <code data-testid="checksum">{img.checksum ?? '—'}</code>
        </dd>
        <dt>Multihash ({img.os_hash_algo ?? '—'})</dt>
        <dd>
          <code class="wrap">{img.os_hash_value ?? '—'}</code>
        </dd>
      </dl>

      <h2>Stores and locations</h2>
      {stores.length > 0 ? (
        <ul class="store-list">
          {stores.map((s) => (
            <li key={s} data-testid="image-store">
              <span>{s}</span>{' '}
              {isAdmin() && stores.length > 1 && (
                <button
                  type="button"
                  class="link"
                  onClick={async () => {
                    if (confirm(`Delete the data of this image from store ${s}?`) && (await act(`Deleting from store ${s}`, () => call(`/v2/stores/${s}/${img.id}`, { method: 'DELETE' }), `Deleted from ${s}.`)))
                      reload();
                  }}
                >
                  Delete from {s}
                </button>
              )}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">{img.status === 'active' ? 'The store list is not shown on this site.' : 'No data yet.'}</p>
      )}
      {img.locations && img.locations.length > 0 && (
        <ul>
          {img.locations.map((l) => (
            <li key={l.url}>
              <code class="wrap">{l.url}</code> {Object.keys(l.metadata).length > 0 && <code>{JSON.stringify(l.metadata)}</code>}
            </li>
          ))}
        </ul>
      )}
      {img.direct_url && (
        <p>
          Direct URL: <code class="wrap">{img.direct_url}</code>
        </p>
      )}
      {info.data && info.data.stores.length > 1 && info.data.importMethods.includes('copy-image') && img.status === 'active' && (
        <form
          class="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await act('Copying to stores', () => json(`/v2/images/${img.id}/import`, { json: { method: { name: 'copy-image' }, stores: copyTo } }), 'Copy started.')) {
              setCopyTo([]);
              setFollowing(true);
            }
          }}
        >
          <StorePicker stores={info.data.stores.filter((s) => !stores.includes(s.id))} value={copyTo} onChange={setCopyTo} legend="Copy to stores" />
          <button type="submit" disabled={copyTo.length === 0}>
            Copy
          </button>
        </form>
      )}
      {(following || importRunning(img)) && (
        <ImportProgress
          imageId={img.id}
          onDone={() => {
            setFollowing(false);
            reload();
          }}
        />
      )}

      <h2>All properties</h2>
      <table class="all-props">
        <thead>
          <tr>
            <th scope="col">Property</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(img)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => (
              <tr key={k}>
                <th scope="row">
                  <code>{k}</code>
                  {isReadOnly(k, readOnly) && <span class="badge">read-only</span>}
                </th>
                <td class="wrap">{typeof v === 'string' ? v : JSON.stringify(v)}</td>
              </tr>
            ))}
        </tbody>
      </table>

      <EditImage
        key={`${img.id}-${img.updated_at}`}
        image={img}
        readOnly={readOnly}
        onSaved={reload}
      />

      <Members image={img} />

      <h2>Tasks</h2>
      {!tasks.data ? (
        <Loading error={tasks.error} retry={tasks.reload} />
      ) : tasks.data.tasks.length === 0 ? (
        <p class="muted">No tasks.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Status</th>
              <th scope="col">Message</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {tasks.data.tasks.map((t) => (
              <tr key={t.id}>
                <td>
                  <code>{t.id}</code> {t.type}
                </td>
                <td>{t.status}</td>
                <td>{t.message || '—'}</td>
                <td>{date(t.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
