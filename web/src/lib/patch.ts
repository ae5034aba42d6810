// The JSON patch (application/openstack-images-v2.1-json-patch) that turns an
// image into the edited one: only what changed, so a property the user did
// not touch is never sent (property protections may forbid writing it).

export type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

/** JSON pointer escaping for property names with "/" or "~" (RFC 6901). */
export const pointer = (name: string) => `/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function imagePatch(original: Record<string, unknown>, edited: Record<string, unknown>, removed: Iterable<string> = []): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const [k, v] of Object.entries(edited)) {
    if (v === undefined) continue;
    if (!(k in original)) ops.push({ op: 'add', path: pointer(k), value: v });
    else if (!same(original[k], v)) ops.push({ op: 'replace', path: pointer(k), value: v });
  }
  for (const k of removed) if (k in original && !(k in edited && edited[k] !== undefined)) ops.push({ op: 'remove', path: pointer(k) });
  return ops;
}
