// GET / and /versions: the version document clients use for discovery.
// Which versions are listed depends on enabled features, as in Glance.

import type { FastifyRequest } from 'fastify';

export interface VersionFeatures {
  multistore: boolean;
  cache: boolean;
  /** The 2.17 locations API (POST/GET /v2/images/{id}/locations). */
  locationsApi: boolean;
}

interface VersionEntry {
  id: string;
  status: 'CURRENT' | 'SUPPORTED';
}

export function versionList(f: VersionFeatures): VersionEntry[] {
  const out: VersionEntry[] = [];
  const newest = f.locationsApi ? 17 : f.cache ? 16 : 15;
  const top: number[] = [];
  for (let v = newest; v >= 14; v--) {
    if (v === 16 && !f.cache) continue;
    if (v === 14 && !f.cache) continue;
    top.push(v);
  }
  top.forEach((v, i) => out.push({ id: `v2.${v}`, status: i === 0 ? 'CURRENT' : 'SUPPORTED' }));
  if (f.multistore) for (let v = 13; v >= 8; v--) out.push({ id: `v2.${v}`, status: 'SUPPORTED' });
  else out.push({ id: 'v2.9', status: 'SUPPORTED' });
  for (let v = 7; v >= 0; v--) out.push({ id: `v2.${v}`, status: 'SUPPORTED' });
  return out;
}

/** URL prefixes that reach the v2 API (/v2, /v2.0 ... as listed), like Glance's version negotiation. */
export function allowedPrefixes(f: VersionFeatures): Set<string> {
  return new Set(['v2', ...versionList(f).map((v) => v.id)]);
}

export function versionsBody(f: VersionFeatures, publicEndpoint: string | undefined, req: FastifyRequest): unknown {
  const base = (publicEndpoint ?? `${req.protocol}://${req.headers.host ?? `${req.hostname}`}`).replace(/\/+$/, '');
  return {
    versions: versionList(f).map((v) => ({ id: v.id, status: v.status, links: [{ rel: 'self', href: `${base}/v2/` }] })),
  };
}
