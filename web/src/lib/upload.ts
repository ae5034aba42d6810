// One file sent from the browser straight to imago: PUT /v2/images/{id}/file
// (or /stage for glance-direct). XMLHttpRequest because fetch() has no upload
// progress, and Chromium streams a request body over HTTP/1.1 only from a
// Blob/File: xhr.send(file) reads the file from disk as it goes, never whole
// into memory. Cancelling aborts the request: imago then drops what it
// received and puts the image back to queued, so the same image can be retried.

import { authHeaders, errorMessage } from './api';

export type UploadState = 'waiting' | 'uploading' | 'done' | 'cancelled' | 'failed';

export interface UploadSnapshot {
  state: UploadState;
  loaded: number;
  total: number;
  /** Bytes per second over the last few seconds. */
  rate: number;
  /** Seconds left at that rate. */
  eta: number;
  message?: string;
}

/** Speed over a sliding window, so the figure follows the network and not the first second. */
const WINDOW_MS = 3000;

export class Upload {
  private xhr: XMLHttpRequest | undefined;
  private samples: { t: number; loaded: number }[] = [];
  snapshot: UploadSnapshot;

  constructor(
    readonly imageId: string,
    readonly file: File,
    private readonly target: 'file' | 'stage',
    private readonly onChange: (s: UploadSnapshot) => void,
    private readonly store?: string,
  ) {
    this.snapshot = { state: 'waiting', loaded: 0, total: file.size, rate: 0, eta: NaN };
  }

  private update(patch: Partial<UploadSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    this.onChange(this.snapshot);
  }

  /** Starts (or restarts after a failure or a cancel) from the first byte. */
  start(): Promise<UploadSnapshot> {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      this.samples = [{ t: performance.now(), loaded: 0 }];
      xhr.open('PUT', `/v2/images/${encodeURIComponent(this.imageId)}/${this.target}`);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.setRequestHeader('Accept', 'application/json');
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      if (this.store && this.target === 'file') xhr.setRequestHeader('X-Image-Meta-Store', this.store);
      xhr.upload.onprogress = (e) => {
        const t = performance.now();
        this.samples.push({ t, loaded: e.loaded });
        while (this.samples.length > 2 && t - this.samples[0]!.t > WINDOW_MS) this.samples.shift();
        const first = this.samples[0]!;
        const rate = t > first.t ? ((e.loaded - first.loaded) * 1000) / (t - first.t) : 0;
        this.update({ loaded: e.loaded, rate, eta: rate > 0 ? (this.file.size - e.loaded) / rate : NaN });
      };
      const finish = (patch: Partial<UploadSnapshot>) => {
        this.xhr = undefined;
        this.update(patch);
        resolve(this.snapshot);
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) finish({ state: 'done', loaded: this.file.size, eta: 0 });
        else finish({ state: 'failed', message: `${xhr.status}: ${errorMessage(xhr.status, xhr.responseText)}` });
      };
      xhr.onerror = () =>
        finish({
          state: 'failed',
          message: `The connection to imago was lost after ${Math.round((this.snapshot.loaded / Math.max(1, this.file.size)) * 100)} % of the file: nothing was kept and the image is back to queued. Retry when the network is back.`,
        });
      xhr.onabort = () => finish({ state: 'cancelled', message: 'Cancelled: nothing was kept and the image is back to queued.' });
      this.update({ state: 'uploading', loaded: 0, rate: 0, eta: NaN, message: undefined });
      xhr.send(this.file);
    });
  }

  cancel(): void {
    this.xhr?.abort();
  }
}
