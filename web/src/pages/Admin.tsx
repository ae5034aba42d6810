// Operators' pages: the stores and their properties, the image cache of the
// API node that answers (each node keeps its own), and every task.

import { useState } from 'preact/hooks';
import { call, json } from '../lib/api';
import { bytes, date } from '../lib/format';
import { href } from '../lib/router';
import type { StoreInfo, Task } from '../lib/types';
import { useLoad } from '../lib/useLoad';
import { act } from '../components/notices';
import { Loading } from '../components/Loading';

interface CachedImage {
  image_id: string;
  hits: number;
  last_accessed: number;
  last_modified: number;
  size: number;
}

interface CacheState {
  cached_images: CachedImage[];
  queued_images: string[];
}

const ADMIN_TABS = [
  { id: 'stores', label: 'Stores' },
  { id: 'cache', label: 'Image cache' },
  { id: 'tasks', label: 'Tasks' },
];

export function AdminPage({ tab }: { tab: string }) {
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Administration</h1>
      <nav class="tabs" aria-label="Administration">
        {ADMIN_TABS.map((t) => (
          <a key={t.id} href={href(`admin/${t.id}`)} aria-current={t.id === tab ? 'page' : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      {tab === 'cache' ? <Cache /> : tab === 'tasks' ? <Tasks /> : <Stores />}
    </section>
  );
}

function Stores() {
  // The detailed view is for admins (and the service role); others get the plain list.
  const stores = useLoad(
    () => json<{ stores: StoreInfo[] }>('/v2/info/stores/detail').catch(() => json<{ stores: StoreInfo[] }>('/v2/info/stores')),
    [],
  );
  if (!stores.data) return <Loading error={stores.error && `${stores.error} (single-store sites have no store list)`} retry={stores.reload} />;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Store</th>
          <th scope="col">Type</th>
          <th scope="col">Description</th>
          <th scope="col">Weight</th>
          <th scope="col">Properties</th>
        </tr>
      </thead>
      <tbody>
        {stores.data.stores.map((s) => (
          <tr key={s.id} data-testid="store-row">
            <td>
              <strong>{s.id}</strong>
              {s.default && <span class="badge">default</span>}
              {s.read_only && <span class="badge">read-only</span>}
            </td>
            <td>{s.type ?? '—'}</td>
            <td>{s.description ?? '—'}</td>
            <td>{s.weight ?? '—'}</td>
            <td class="wrap">
              {s.properties
                ? Object.entries(s.properties).map(([k, v]) => (
                    <div key={k}>
                      <code>{k}</code> = {typeof v === 'string' ? v : JSON.stringify(v)}
                    </div>
                  ))
                : '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Cache() {
  const cache = useLoad(() => json<CacheState>('/v2/cache'), []);
  const [imageId, setImageId] = useState('');
  if (!cache.data) return <Loading error={cache.error && `${cache.error} (the cache API exists only where [DEFAULT] image_cache_dir is set)`} retry={cache.reload} />;
  const clear = async (target: '' | 'cache' | 'queue') => {
    if (confirm(`Clear ${target || 'the cache and the queue'}?`) && (await act('Clearing the cache', () => call('/v2/cache', { method: 'DELETE', headers: target ? { 'x-image-cache-clear-target': target } : {} }), 'Cleared.')))
      cache.reload();
  };
  return (
    <>
      <p class="muted">The cache of the API node that answered; each node has its own.</p>
      <h2>Cached images</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Image</th>
            <th scope="col">Size</th>
            <th scope="col">Hits</th>
            <th scope="col">Last used</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {cache.data.cached_images.map((c) => (
            <tr key={c.image_id}>
              <td>
                <a href={href(`images/${c.image_id}`)}>{c.image_id}</a>
              </td>
              <td>{bytes(c.size)}</td>
              <td>{c.hits}</td>
              <td>{c.last_accessed ? date(new Date(c.last_accessed * 1000).toISOString()) : '—'}</td>
              <td>
                <button type="button" onClick={async () => (await act('Removing from the cache', () => call(`/v2/cache/${c.image_id}`, { method: 'DELETE' }))) && cache.reload()}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
          {cache.data.cached_images.length === 0 && (
            <tr>
              <td colSpan={5} class="muted">
                Nothing cached.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <h2>Queued for caching</h2>
      <ul>
        {cache.data.queued_images.map((id) => (
          <li key={id}>
            <a href={href(`images/${id}`)}>{id}</a>{' '}
            <button type="button" class="link" onClick={async () => (await act('Removing from the queue', () => call(`/v2/cache/${id}`, { method: 'DELETE' }))) && cache.reload()}>
              Remove
            </button>
          </li>
        ))}
        {cache.data.queued_images.length === 0 && <li class="muted">Nothing queued.</li>}
      </ul>
      <form
        class="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await act('Queueing the image', () => call(`/v2/cache/${imageId.trim()}`, { method: 'PUT' }), 'Queued for caching.')) {
            setImageId('');
            cache.reload();
          }
        }}
      >
        <label>
          Image ID to cache <input value={imageId} required onInput={(e) => setImageId(e.currentTarget.value)} />
        </label>
        <button type="submit">Queue</button>
      </form>
      <div class="toolbar">
        <button type="button" onClick={() => clear('queue')}>
          Clear the queue
        </button>
        <button type="button" class="danger" onClick={() => clear('cache')}>
          Clear the cache
        </button>
        <button type="button" onClick={cache.reload}>
          Refresh
        </button>
      </div>
    </>
  );
}

function Tasks() {
  const [url, setUrl] = useState('/v2/tasks?limit=50&sort_key=created_at&sort_dir=desc');
  const tasks = useLoad(() => json<{ tasks: Task[]; next?: string }>(url), [url]);
  if (!tasks.data) return <Loading error={tasks.error} retry={tasks.reload} />;
  return (
    <>
      <table>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Owner</th>
            <th scope="col">Created</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {tasks.data.tasks.map((t) => (
            <tr key={t.id}>
              <td>
                <code>{t.id}</code>
              </td>
              <td>{t.type}</td>
              <td>{t.status}</td>
              <td>{t.owner ?? '—'}</td>
              <td>{date(t.created_at)}</td>
              <td>{date(t.updated_at)}</td>
            </tr>
          ))}
          {tasks.data.tasks.length === 0 && (
            <tr>
              <td colSpan={6} class="muted">
                No tasks.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={!tasks.data.next} onClick={() => tasks.data?.next && setUrl(tasks.data.next)}>
          Next →
        </button>
      </nav>
    </>
  );
}
