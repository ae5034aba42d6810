// Downloading an image. A link cannot carry the X-Auth-Token header, so the
// page fetches the data itself: where the browser can write to a file it
// streams into it (File System Access API, Chromium), else it has to gather
// the bytes into a Blob first, which costs memory: the user is warned.

import { authHeaders, errorMessage, ApiError } from './api';

interface SavePicker {
  showSaveFilePicker?: (o: { suggestedName: string }) => Promise<{ createWritable(): Promise<WritableStream<Uint8Array>> }>;
}

export async function downloadImage(id: string, name: string, size: number | null): Promise<void> {
  const picker = (window as unknown as SavePicker).showSaveFilePicker;
  const fileName = `${name || id}`.replace(/[/\\]/g, '_');
  // Ask for the file before the request, while the click still counts as a user gesture.
  const target = picker ? await picker({ suggestedName: fileName }) : undefined;
  const res = await fetch(`/v2/images/${id}/file`, { headers: authHeaders() });
  if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, await res.text()));
  if (target && res.body) {
    await res.body.pipeTo(await target.createWritable());
    return;
  }
  if (size && size > 2 * 1024 ** 3 && !confirm('This browser cannot stream to a file: the whole image will be held in memory first. Go on?')) return;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
