// Parses PATCH /v2/images/{id} bodies in Glance's two media types:
// application/openstack-images-v2.1-json-patch (RFC 6902 style {op, path, value})
// and the deprecated v2.0 one ({"replace": "/name", "value": ...}).
// Validation rules and messages follow Glance's RequestDeserializer.update.

import { badRequest, forbidden, unsupportedMediaType } from '../errors/index.js';

export const PATCH_MEDIA_TYPES: Record<string, 4 | 10> = {
  'application/openstack-images-v2.0-json-patch': 4,
  'application/openstack-images-v2.1-json-patch': 10,
};

export type PatchOp = 'add' | 'remove' | 'replace';

export interface Change {
  op: PatchOp;
  /** Decoded JSON pointer segments, e.g. ['locations', '-']. */
  path: string[];
  value?: unknown;
  draft: 4 | 10;
}

const OPS: readonly PatchOp[] = ['add', 'remove', 'replace'];
const READ_ONLY = new Set([
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'direct_url',
  'self',
  'file',
  'schema',
  'id',
  'os_hash_algo',
  'os_hash_value',
]);
const RESERVED = new Set(['location', 'deleted', 'deleted_at']);
/** Only locations may be addressed one element deep (`/locations/0`, `/locations/-`). */
const PATH_DEPTH: Record<string, Partial<Record<PatchOp, number>>> = { locations: { add: 2, remove: 2, replace: 1 } };

export function patchDraft(contentType: string | undefined): 4 | 10 {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const draft = PATCH_MEDIA_TYPES[ct];
  if (!draft) {
    throw unsupportedMediaType(`Unsupported Content-Type`, { 'Accept-Patch': Object.keys(PATCH_MEDIA_TYPES).sort().join(', ') });
  }
  return draft;
}

export function isReservedName(name: string): boolean {
  return RESERVED.has(name) || name.startsWith('os_glance');
}

function decodePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw badRequest('Pointer must be a string');
  if (!pointer.startsWith('/')) throw badRequest(`Pointer \`${pointer}\` does not start with "/".`);
  if (/\/\s*?\//.test(pointer.slice(1))) throw badRequest(`Pointer \`${pointer}\` contains adjacent "/".`);
  if (pointer.length > 1 && pointer.endsWith('/')) throw badRequest(`Pointer \`${pointer}\` end with "/".`);
  if (pointer.slice(1).trim() === '/') throw badRequest(`Pointer \`${pointer}\` does not contains valid token.`);
  if (/~[^01]/.test(pointer) || pointer.endsWith('~')) {
    throw badRequest(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`);
  }
  return pointer
    .replace(/^\/+/, '')
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~').trim());
}

/**
 * Turns a parsed body into validated changes. Property names that are
 * read-only or reserved are refused here (403), before any image lookup,
 * exactly as Glance's deserializer does.
 */
export function parseChanges(body: unknown, draft: 4 | 10, validateValue: (partial: Record<string, unknown>) => string | null): Change[] {
  if (!Array.isArray(body)) throw badRequest('Request body must be a JSON array of operation objects.');
  const changes: Change[] = [];
  for (const raw of body) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('Operations must be JSON objects.');
    const r = raw as Record<string, unknown>;
    let op: PatchOp;
    let pointer: unknown;
    if (draft === 10) {
      const o = r.op;
      if (o === undefined) {
        throw badRequest(`Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(', ')}.`);
      }
      if (typeof o !== 'string' || !OPS.includes(o as PatchOp)) {
        throw badRequest(`Invalid operation: \`${String(o)}\`. It must be one of the following: ${OPS.join(', ')}.`);
      }
      op = o as PatchOp;
      if (!('path' in r)) throw badRequest("Unable to find 'path' in JSON Schema change");
      pointer = r.path;
    } else {
      const present = OPS.filter((k) => k in r);
      if (present.length > 1) throw badRequest('Operation objects must contain only one member named "add", "remove", or "replace".');
      if (present.length === 0) throw badRequest('Operation objects must contain exactly one member named "add", "remove", or "replace".');
      op = present[0]!;
      pointer = r[op];
    }
    const path = decodePointer(pointer);
    const root = path[0]!;
    const depth = PATH_DEPTH[root]?.[op] ?? 1;
    if (path.length !== depth) throw badRequest(`Invalid JSON pointer for this resource: '/${path.join('/')}'`);
    const change: Change = { op, path, draft };
    if (op !== 'remove') {
      if (!('value' in r)) throw badRequest(`Operation "${op}" requires a member named "value".`);
      change.value = r.value;
    }
    if (READ_ONLY.has(root)) throw forbidden(`Attribute '${root}' is read-only.`);
    if (isReservedName(root)) throw forbidden(`Attribute '${root}' is reserved.`);
    if (op !== 'remove') {
      const partial = path.length === 1 ? { [root]: change.value } : root === 'locations' ? { locations: [change.value] } : undefined;
      if (partial) {
        const err = validateValue(partial);
        if (err) throw badRequest(err);
      }
    }
    changes.push(change);
  }
  return changes;
}
