// rbd:// location URLs, as glance_store writes and reads them:
//   rbd://<fsid>/<pool>/<image>/<snapshot>   (each part URL-quoted; what Nova and Cinder clone from)
//   rbd://<image>                            (legacy: the store's pool, the image's head)

import { StoreError } from '../store.js';

export interface RbdLocation {
  fsid?: string | undefined;
  pool?: string | undefined;
  image: string;
  snapshot?: string | undefined;
}

export function parseRbdLocation(url: string): RbdLocation {
  const prefix = 'rbd://';
  if (!url.toLowerCase().startsWith(prefix)) throw new StoreError('bad_uri', `Invalid RBD location "${url}": it must start with ${prefix}`);
  if (!/^[\x20-\x7e]*$/.test(url)) throw new StoreError('bad_uri', 'Invalid RBD location: URI contains non-ascii characters');
  const pieces = url.slice(prefix.length).split('/');
  if (pieces.length !== 1 && pieces.length !== 4) throw new StoreError('bad_uri', 'Invalid RBD location: URI must have exactly 1 or 4 components');
  if (pieces.some((p) => p === '')) throw new StoreError('bad_uri', 'Invalid RBD location: URI cannot contain empty components');
  let parts: string[];
  try {
    parts = pieces.map((p) => decodeURIComponent(p));
  } catch {
    throw new StoreError('bad_uri', `Invalid RBD location "${url}": bad percent-encoding`);
  }
  if (parts.length === 1) return { image: parts[0]! };
  const [fsid, pool, image, snapshot] = parts as [string, string, string, string];
  return { fsid, pool, image, snapshot };
}

/** Python's urllib.parse.quote(s, ''): everything but letters, digits and `_.-~` escaped. */
function quote(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function formatRbdLocation(fsid: string, pool: string, image: string, snapshot: string): string {
  return `rbd://${quote(fsid)}/${quote(pool)}/${quote(image)}/${quote(snapshot)}`;
}

/** Glance's url_prefix of an rbd store: locations starting with it belong to the store. */
export function rbdUrlPrefix(fsid: string, pool: string): string {
  return `rbd://${quote(fsid)}/${quote(pool)}/`;
}
