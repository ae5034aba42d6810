// The image list: tabs by ownership/visibility, filters, sorting and
// marker-based paging as the API does it (one page of 50 at a time, so the
// first render costs the same with 10 or 10,000 images), bulk delete.

import { useEffect, useState } from 'preact/hooks';
import { call, json } from '../lib/api';
import { isAdmin, projectId } from '../lib/session';
import { href, go, type Route } from '../lib/router';
import { useLoad } from '../lib/useLoad';
import { bytes, date } from '../lib/format';
import { DISK_FORMATS, STATUSES, type ImageList } from '../lib/types';
import { attempt, notify } from '../components/notices';
import { Loading } from '../components/Loading';

const PAGE = 50;
const TABS = [
  { id: 'project', label: 'Project' },
  { id: 'shared', label: 'Shared with me' },
  { id: 'public', label: 'Public' },
  { id: 'community', label: 'Community' },
  { id: 'all', label: 'All (admin)' },
] as const;

const FILTERS = ['name', 'status', 'disk_format', 'tag', 'size_min', 'size_max', 'os_hidden', 'member_status'] as const;
const SORTABLE = ['name', 'status', 'size', 'disk_format', 'created_at', 'updated_at'];

function availableTabs() {
  return TABS.filter((t) => (t.id === 'project' ? projectId() !== undefined : t.id === 'all' ? isAdmin() : true));
}

/** The project's own images first; without a project (no-auth mode, admin) everything. */
function defaultTab(): string {
  const tabs = availableTabs();
  return (tabs.find((t) => t.id === 'project') ?? tabs.find((t) => t.id === 'all') ?? tabs[0]!).id;
}

/** The API query for a route's tab, filters and sort (the route's query string holds them). */
export function listQuery(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams({ limit: String(PAGE) });
  const tab = q.get('tab') ?? defaultTab();
  if (tab === 'project') out.set('owner', projectId()!);
  else out.set('visibility', tab);
  for (const f of FILTERS) {
    const v = q.get(f);
    if (!v || (f === 'member_status' && tab !== 'shared')) continue;
    if (f === 'size_min' || f === 'size_max') out.set(f, String(Math.round(Number(v) * 1024 * 1024)));
    else if (f === 'tag') for (const t of v.split(',').map((s) => s.trim()).filter(Boolean)) out.append('tag', t);
    else out.set(f, v);
  }
  const [key, dir] = (q.get('sort') ?? 'created_at:desc').split(':');
  out.set('sort_key', key!);
  out.set('sort_dir', dir === 'asc' ? 'asc' : 'desc');
  return out;
}

export function ImagesPage({ route }: { route: Route }) {
  const q = route.query;
  const tab = q.get('tab') ?? defaultTab();
  const base = `/v2/images?${listQuery(q).toString()}`;
  // The markers of the pages before this one, for "Previous".
  const [pages, setPages] = useState<string[]>([base]);
  useEffect(() => setPages([base]), [base]);
  const url = pages[pages.length - 1]!;
  const list = useLoad(() => json<ImageList>(url), [url]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  useEffect(() => setSelected(new Set()), [url]);
  const pending = useLoad(() => json<ImageList>('/v2/images?visibility=shared&member_status=pending&limit=1000'), [url]);

  const setQuery = (changes: Record<string, string | undefined>) => {
    const next = new URLSearchParams(q);
    for (const [k, v] of Object.entries(changes)) v ? next.set(k, v) : next.delete(k);
    go(`images?${next.toString()}`);
  };

  const sortBy = (key: string) => {
    const [k, d] = (q.get('sort') ?? 'created_at:desc').split(':');
    setQuery({ sort: `${key}:${k === key && d === 'asc' ? 'desc' : 'asc'}` });
  };
  const sortState = (key: string) => {
    const [k, d] = (q.get('sort') ?? 'created_at:desc').split(':');
    return k === key ? (d === 'asc' ? 'ascending' : 'descending') : 'none';
  };

  const bulkDelete = async () => {
    const ids = [...selected];
    if (!ids.length || !confirm(`Delete ${ids.length} image(s)? This cannot be undone.`)) return;
    let ok = 0;
    for (const id of ids) {
      const done = await attempt(`Deleting image ${id}`, async () => {
        await call(`/v2/images/${id}`, { method: 'DELETE' });
        return true;
      });
      if (done) ok++;
    }
    notify('info', `${ok} of ${ids.length} image(s) deleted.`);
    list.reload();
  };

  const answer = async (imageId: string, status: 'accepted' | 'rejected') => {
    const me = projectId();
    if (!me) return;
    await attempt(`Answering the share of ${imageId}`, () => json(`/v2/images/${imageId}/members/${me}`, { method: 'PUT', json: { status } }), `Share ${status}.`);
    list.reload();
    pending.reload();
  };

  const images = list.data?.images ?? [];
  const pendingCount = pending.data?.images.length ?? 0;

  return (
    <section aria-labelledby="images-title">
      <div class="title-row">
        <h1 id="images-title">Images</h1>
        <a class="button primary" href={href('create')}>
          Create image
        </a>
      </div>
      {pendingCount > 0 && tab !== 'shared' && (
        <p class="notice info" data-testid="pending-shares">
          {pendingCount} image(s) shared with this project await your answer.{' '}
          <a href={href('images?tab=shared&member_status=pending')}>Review them</a>
        </p>
      )}
      <nav class="tabs" aria-label="Which images">
        {availableTabs().map((t) => (
          <a key={t.id} href={href(`images?tab=${t.id}`)} aria-current={t.id === tab ? 'page' : undefined}>
            {t.label}
          </a>
        ))}
      </nav>
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget);
          const changes: Record<string, string | undefined> = {};
          for (const f of FILTERS) changes[f] = String(data.get(f) ?? '').trim() || undefined;
          setQuery(changes);
        }}
      >
        <label>
          Name <input name="name" defaultValue={q.get('name') ?? ''} placeholder="exact name" />
        </label>
        <label>
          Status
          <select name="status" defaultValue={q.get('status') ?? ''}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Disk format
          <select name="disk_format" defaultValue={q.get('disk_format') ?? ''}>
            <option value="">any</option>
            {DISK_FORMATS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Tags <input name="tag" defaultValue={q.get('tag') ?? ''} placeholder="a, b (all of them)" />
        </label>
        <label>
          Min size (MiB) <input name="size_min" type="number" min="0" step="any" defaultValue={q.get('size_min') ?? ''} />
        </label>
        <label>
          Max size (MiB) <input name="size_max" type="number" min="0" step="any" defaultValue={q.get('size_max') ?? ''} />
        </label>
        <label>
          Hidden
          <select name="os_hidden" defaultValue={q.get('os_hidden') ?? ''}>
            <option value="">not hidden</option>
            <option value="true">hidden only</option>
          </select>
        </label>
        {tab === 'shared' && (
          <label>
            Share status
            <select name="member_status" defaultValue={q.get('member_status') ?? ''}>
              <option value="">accepted</option>
              <option value="pending">pending</option>
              <option value="rejected">rejected</option>
              <option value="all">all</option>
            </select>
          </label>
        )}
        <button type="submit">Apply filters</button>
        <a class="button" href={href(`images?tab=${tab}`)}>
          Clear
        </a>
      </form>

      <div class="toolbar">
        <button type="button" class="danger" disabled={selected.size === 0} onClick={bulkDelete}>
          Delete selected ({selected.size})
        </button>
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      </div>

      {list.error && <Loading error={list.error} retry={list.reload} />}
      {!list.data && !list.error && <Loading />}
      {list.data && (
        <div class="table-wrap">
          <table class="images" aria-busy={list.loading}>
            <caption class="visually-hidden">Images, sorted by {(q.get('sort') ?? 'created_at:desc').replace(':', ' ')}</caption>
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select every image on this page"
                    checked={images.length > 0 && selected.size === images.length}
                    onChange={(e) => setSelected(e.currentTarget.checked ? new Set(images.map((i) => i.id)) : new Set())}
                  />
                </th>
                {SORTABLE.map((k) => (
                  <th scope="col" key={k} aria-sort={sortState(k) as 'none'}>
                    <button type="button" class="link" onClick={() => sortBy(k)}>
                      {k.replace('_', ' ')}
                      {sortState(k) === 'ascending' ? ' ▲' : sortState(k) === 'descending' ? ' ▼' : ''}
                    </button>
                  </th>
                ))}
                <th scope="col">visibility</th>
                {tab === 'shared' && projectId() && <th scope="col">share</th>}
              </tr>
            </thead>
            <tbody>
              {images.map((img) => (
                <tr key={img.id} data-testid="image-row">
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${img.name ?? img.id}`}
                      checked={selected.has(img.id)}
                      onChange={(e) => {
                        const s = new Set(selected);
                        e.currentTarget.checked ? s.add(img.id) : s.delete(img.id);
                        setSelected(s);
                      }}
                    />
                  </td>
                  <td>
                    <a href={href(`images/${img.id}`)}>{img.name || img.id}</a>
                    {img.protected && <span class="badge" title="protected">protected</span>}
                  </td>
                  <td>
                    <span class={`status status-${img.status}`}>{img.status}</span>
                  </td>
                  <td>{bytes(img.size)}</td>
                  <td>{img.disk_format ?? '—'}</td>
                  <td>{date(img.created_at)}</td>
                  <td>{date(img.updated_at)}</td>
                  <td>{img.visibility}</td>
                  {tab === 'shared' && projectId() && (
                    <td class="actions">
                      <button type="button" onClick={() => answer(img.id, 'accepted')}>
                        Accept
                      </button>
                      <button type="button" onClick={() => answer(img.id, 'rejected')}>
                        Reject
                      </button>
                    </td>
                  )}
                </tr>
              ))}
              {images.length === 0 && (
                <tr>
                  <td colSpan={9} class="muted">
                    No images here.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={pages.length < 2} onClick={() => setPages(pages.slice(0, -1))}>
          ← Previous
        </button>
        <span>Page {pages.length}</span>
        <button type="button" disabled={!list.data?.next} onClick={() => list.data?.next && setPages([...pages, list.data.next])}>
          Next →
        </button>
      </nav>
    </section>
  );
}
