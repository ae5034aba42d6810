// Creating images: local files uploaded straight from the browser to imago
// (several at once, by drag and drop or the file chooser), or a URL imported
// by the server (web-download). Stores are chosen where the site has several.

import { useEffect, useState } from 'preact/hooks';
import { json } from '../lib/api';
import { discovery, type Discovery } from '../lib/discovery';
import { HEAD_BYTES, TAIL_BYTES, proposeDiskFormat } from '../lib/diskFormat';
import { bytes, duration, rate } from '../lib/format';
import { href, type Route } from '../lib/router';
import { CONTAINER_FORMATS, DISK_FORMATS, type Image } from '../lib/types';
import { Upload, type UploadSnapshot } from '../lib/upload';
import { useLoad } from '../lib/useLoad';
import { act, attempt, describe } from '../components/notices';
import { ImportProgress } from '../components/ImportProgress';
import { StorePicker } from '../components/StorePicker';
import { Loading } from '../components/Loading';

type Phase = 'ready' | 'creating' | 'uploading' | 'importing' | 'done' | 'failed' | 'cancelled';

interface Entry {
  key: number;
  file: File;
  name: string;
  diskFormat: string;
  proposed: string | undefined;
  phase: Phase;
  image?: Image;
  upload?: Upload;
  snap?: UploadSnapshot;
  message?: string;
}

interface Settings {
  visibility: string;
  containerFormat: string;
  stores: string[];
  staging: boolean;
}

let nextKey = 1;

async function propose(file: File): Promise<string> {
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  const tail = file.size > HEAD_BYTES ? new Uint8Array(await file.slice(file.size - TAIL_BYTES).arrayBuffer()) : new Uint8Array();
  return proposeDiskFormat(head, tail);
}

export function CreatePage({ route }: { route: Route }) {
  const info = useLoad(discovery, []);
  const mode = route.query.get('from') === 'url' ? 'url' : 'file';
  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title">Create image</h1>
      <nav class="tabs" aria-label="Source">
        <a href={href('create')} aria-current={mode === 'file' ? 'page' : undefined}>
          From files
        </a>
        <a href={href('create?from=url')} aria-current={mode === 'url' ? 'page' : undefined}>
          From a URL
        </a>
      </nav>
      {!info.data ? <Loading error={info.error} retry={info.reload} /> : mode === 'file' ? <FileUploads info={info.data} /> : <UrlImport info={info.data} />}
    </section>
  );
}

function CommonSettings({ info, value, onChange, allowStaging }: { info: Discovery; value: Settings; onChange: (s: Settings) => void; allowStaging: boolean }) {
  return (
    <div class="grid">
      <label>
        Visibility
        <select value={value.visibility} onChange={(e) => onChange({ ...value, visibility: e.currentTarget.value })}>
          {['private', 'shared', 'community', 'public'].map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      </label>
      <label>
        Container format
        <select value={value.containerFormat} onChange={(e) => onChange({ ...value, containerFormat: e.currentTarget.value })}>
          {CONTAINER_FORMATS.map((v) => (
            <option key={v}>{v}</option>
          ))}
        </select>
      </label>
      <StorePicker stores={info.stores} value={value.stores} onChange={(stores) => onChange({ ...value, stores })} legend="Stores (none chosen: the default store)" />
      {allowStaging && info.importMethods.includes('glance-direct') && (
        <label class="check">
          <input type="checkbox" checked={value.staging || value.stores.length > 1} disabled={value.stores.length > 1} onChange={(e) => onChange({ ...value, staging: e.currentTarget.checked })} />
          Upload to staging, then import (glance-direct){value.stores.length > 1 ? ' — needed for several stores' : ''}
        </label>
      )}
    </div>
  );
}

function FileUploads({ info }: { info: Discovery }) {
  const [entries, setEntries] = useState<Entry[]>([]);
  const [settings, setSettings] = useState<Settings>({ visibility: 'private', containerFormat: 'bare', stores: [], staging: false });
  const [dragging, setDragging] = useState(false);

  const patch = (key: number, p: Partial<Entry>) => setEntries((list) => list.map((e) => (e.key === key ? { ...e, ...p } : e)));

  const add = (files: Iterable<File>) => {
    for (const file of files) {
      const key = nextKey++;
      const entry: Entry = { key, file, name: file.name.replace(/\.(qcow2|img|raw|iso|vmdk|vhdx?|bin)$/i, ''), diskFormat: 'raw', proposed: undefined, phase: 'ready' };
      setEntries((list) => [...list, entry]);
      propose(file).then(
        (fmt) => setEntries((list) => list.map((e) => (e.key === key ? { ...e, diskFormat: e.proposed === undefined ? fmt : e.diskFormat, proposed: fmt } : e))),
        () => patch(key, { proposed: undefined }),
      );
    }
  };

  useEffect(() => {
    // Leaving the page during an upload would drop it: ask first.
    const warn = (e: BeforeUnloadEvent) => {
      if (entries.some((x) => x.phase === 'uploading')) e.preventDefault();
    };
    addEventListener('beforeunload', warn);
    return () => removeEventListener('beforeunload', warn);
  }, [entries]);

  const run = async (entry: Entry) => {
    const staging = settings.staging || settings.stores.length > 1;
    let image = entry.image;
    if (!image) {
      patch(entry.key, { phase: 'creating', message: undefined });
      try {
        image = await json<Image>('/v2/images', {
          json: { name: entry.name, disk_format: entry.diskFormat, container_format: settings.containerFormat, visibility: settings.visibility },
        });
      } catch (e) {
        patch(entry.key, { phase: 'failed', message: `Creating the image failed — ${describe(e)}` });
        return;
      }
      patch(entry.key, { image });
    }
    const up = new Upload(image.id, entry.file, staging ? 'stage' : 'file', (snap) => patch(entry.key, { snap }), !staging ? settings.stores[0] : undefined);
    patch(entry.key, { phase: 'uploading', upload: up, message: undefined });
    const result = await up.start();
    if (result.state !== 'done') {
      patch(entry.key, { phase: result.state === 'cancelled' ? 'cancelled' : 'failed', message: result.message });
      return;
    }
    if (staging) {
      const ok = await act(`Importing ${entry.name}`, () =>
        json(`/v2/images/${image.id}/import`, { json: { method: { name: 'glance-direct' }, ...(settings.stores.length ? { stores: settings.stores } : {}) } }),
      );
      patch(entry.key, !ok ? { phase: 'failed', message: 'The data is staged but the import was refused; retry the import from the image page.' } : { phase: 'importing' });
      return;
    }
    const done = await json<Image>(`/v2/images/${image.id}`).catch(() => image);
    patch(entry.key, { phase: 'done', image: done });
  };

  const startAll = async () => {
    for (const e of entries.filter((x) => x.phase === 'ready')) await run(e);
  };

  return (
    <div>
      <CommonSettings info={info} value={settings} onChange={setSettings} allowStaging />
      <label
        class={`dropzone${dragging ? ' dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          if (e.dataTransfer?.files.length) add(Array.from(e.dataTransfer.files));
        }}
      >
        <span>
          Drop image files here, or <u>choose files</u>
        </span>
        <input
          type="file"
          multiple
          class="visually-hidden"
          data-testid="file-input"
          onChange={(e) => {
            add(Array.from(e.currentTarget.files ?? []));
            e.currentTarget.value = '';
          }}
        />
      </label>

      {entries.length > 0 && (
        <ul class="uploads" aria-label="Files to upload">
          {entries.map((e) => (
            <UploadRow
              key={e.key}
              entry={e}
              onChange={(p) => patch(e.key, p)}
              onRetry={() => run(e)}
              onRemove={() => setEntries((l) => l.filter((x) => x.key !== e.key))}
            />
          ))}
        </ul>
      )}
      <div class="toolbar">
        <button type="button" class="primary" disabled={!entries.some((e) => e.phase === 'ready')} onClick={startAll}>
          Upload {entries.filter((e) => e.phase === 'ready').length || ''} file(s)
        </button>
      </div>
    </div>
  );
}

function UploadRow({ entry: e, onChange, onRetry, onRemove }: { entry: Entry; onChange: (p: Partial<Entry>) => void; onRetry: () => void; onRemove: () => void }) {
  const s = e.snap;
  const pct = s && s.total ? Math.floor((s.loaded / s.total) * 100) : 0;
  const editable = e.phase === 'ready';
  return (
    <li class={`upload phase-${e.phase}`} data-testid="upload-row">
      <div class="grid">
        <label>
          Name
          <input value={e.name} disabled={!editable} onInput={(ev) => onChange({ name: ev.currentTarget.value })} />
        </label>
        <label>
          Disk format
          <select value={e.diskFormat} disabled={!editable} onChange={(ev) => onChange({ diskFormat: ev.currentTarget.value })} data-testid="disk-format">
            {DISK_FORMATS.map((f) => (
              <option key={f} value={f}>
                {f}
                {f === e.proposed ? ' (detected)' : ''}
              </option>
            ))}
          </select>
        </label>
        <span class="muted">
          {e.file.name}, {bytes(e.file.size)}
        </span>
      </div>
      {(e.phase === 'uploading' || s) && (
        <div class="progress-row">
          <progress max={100} value={pct} aria-label={`Upload of ${e.file.name}`} />
          <span data-testid="upload-percent">{pct} %</span>
          {e.phase === 'uploading' && s && (
            <span class="muted">
              {bytes(s.loaded)} of {bytes(s.total)} · {rate(s.rate)} · {duration(s.eta)} left
            </span>
          )}
        </div>
      )}
      <p class="upload-state" data-testid="upload-state">
        {
          {
            ready: 'Ready to upload.',
            creating: 'Creating the image…',
            uploading: 'Uploading…',
            importing: 'Uploaded to staging; importing…',
            done: `Done: the image is ${e.image?.status ?? 'saved'}${e.image?.checksum ? ` (md5 ${e.image.checksum})` : ''}.`,
            failed: 'Failed.',
            cancelled: 'Cancelled.',
          }[e.phase]
        }{' '}
        {e.message && <span class={e.phase === 'failed' ? 'error-text' : ''}>{e.message}</span>}
      </p>
      {e.phase === 'importing' && e.image && <ImportProgress imageId={e.image.id} onDone={(img) => onChange({ phase: 'done', image: img })} />}
      <div class="actions">
        {e.phase === 'uploading' && (
          <button type="button" onClick={() => e.upload?.cancel()}>
            Cancel
          </button>
        )}
        {(e.phase === 'failed' || e.phase === 'cancelled') && (
          <button type="button" onClick={onRetry}>
            Retry
          </button>
        )}
        {(e.phase === 'ready' || e.phase === 'failed' || e.phase === 'cancelled' || e.phase === 'done') && (
          <button type="button" class="link" onClick={onRemove}>
            Remove from list
          </button>
        )}
        {e.image && <a href={href(`images/${e.image.id}`)}>Open image</a>}
      </div>
    </li>
  );
}

function UrlImport({ info }: { info: Discovery }) {
  const [settings, setSettings] = useState<Settings>({ visibility: 'private', containerFormat: 'bare', stores: [], staging: false });
  const [started, setStarted] = useState<Image>();
  const [busy, setBusy] = useState(false);
  if (!info.importMethods.includes('web-download')) return <p class="notice info">This site does not offer web-download imports ([DEFAULT] enabled_import_methods).</p>;
  return (
    <form
      class="url-import"
      onSubmit={async (ev) => {
        ev.preventDefault();
        const data = new FormData(ev.currentTarget);
        setBusy(true);
        setStarted(undefined);
        const img = await attempt('Creating the image', () =>
          json<Image>('/v2/images', {
            json: { name: String(data.get('name')), disk_format: String(data.get('disk_format')), container_format: settings.containerFormat, visibility: settings.visibility },
          }),
        );
        if (img) {
          const ok = await act('Starting the web-download import', () =>
            json(`/v2/images/${img.id}/import`, { json: { method: { name: 'web-download', uri: String(data.get('uri')) }, ...(settings.stores.length ? { stores: settings.stores } : {}) } }),
          );
          // Refused: the message is shown, and the image stays queued for another try from its page.
          if (ok) setStarted(img);
        }
        setBusy(false);
      }}
    >
      <div class="grid">
        <label>
          Name <input name="name" required />
        </label>
        <label>
          URL <input name="uri" type="url" required placeholder="https://example.org/disk.qcow2" />
        </label>
        <label>
          Disk format
          <select name="disk_format" required>
            {DISK_FORMATS.map((f) => (
              <option key={f} selected={f === 'qcow2'}>
                {f}
              </option>
            ))}
          </select>
        </label>
      </div>
      <CommonSettings info={info} value={settings} onChange={setSettings} allowStaging={false} />
      <button type="submit" class="primary" disabled={busy}>
        Import from URL
      </button>
      {started && (
        <div>
          <p>
            <a href={href(`images/${started.id}`)}>{started.name}</a> ({started.id})
          </p>
          <ImportProgress imageId={started.id} />
        </div>
      )}
    </form>
  );
}
