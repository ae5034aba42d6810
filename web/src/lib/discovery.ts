// What this deployment offers: its stores (multi-store only) and import methods.

import { json } from './api';
import type { ImportInfo, StoreInfo } from './types';

export interface Discovery {
  stores: StoreInfo[];
  importMethods: string[];
}

let cached: Promise<Discovery> | undefined;

export function discovery(): Promise<Discovery> {
  cached ??= Promise.all([
    // Single-store deployments answer 404 here: no store choice then.
    json<{ stores: StoreInfo[] }>('/v2/info/stores').then((r) => r.stores.filter((s) => !s.id.startsWith('os_glance_')), () => [] as StoreInfo[]),
    json<ImportInfo>('/v2/info/import').then((r) => r['import-methods'].value),
  ]).then(
    ([stores, importMethods]) => ({ stores, importMethods }),
    (e) => {
      cached = undefined;
      throw e;
    },
  );
  return cached;
}

/** Forget what was learnt (after signing in to another project). */
export function forgetDiscovery(): void {
  cached = undefined;
}
