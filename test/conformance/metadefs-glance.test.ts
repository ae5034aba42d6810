// The metadefs schemas and property-type coercion against the installed Glance
// (Zed): its schema documents, and WSME's round trip of a property type.
// Needs Debian's python3-glance at /usr/bin/python3.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { metadefSchemas, METADEF_SCHEMA_NAMES } from '../../src/metadefs/schemas.js';
import { ModelError, propertyType } from '../../src/metadefs/model.js';

const PYTHON = '/usr/bin/python3';

const ORACLE = `
import json, sys
from wsme.rest import json as wj
from glance.api.v2 import schemas
from glance.api.v2.model.metadef_property_type import PropertyType
req = json.load(sys.stdin)
c = schemas.Controller()
out = {'schemas': {n: getattr(c, 'metadef_' + n)(None) for n in req['schemas']}, 'types': []}
for doc in req['types']:
    try:
        out['types'].append(wj.tojson(PropertyType, wj.fromjson(PropertyType, doc)))
    except Exception:
        out['types'].append('error')
print(json.dumps(out))
`;

function ask(request: object): { schemas: Record<string, unknown>; types: unknown[] } {
  const r = spawnSync(PYTHON, ['-c', ORACLE], { input: JSON.stringify(request), encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`Glance's metadef models are needed (${PYTHON} with Debian's python3-glance): ${r.error?.message ?? r.stderr}`);
  return JSON.parse(r.stdout);
}

const TYPES: unknown[] = [
  { title: 'T', type: 'string' },
  { name: 'n', title: 'T', type: 'string', description: 'd', operators: ['<or>'], default: 'x', readonly: true, pattern: '^a' },
  { title: 'T', type: 'integer', default: 6379, minimum: 1.5, maximum: -2.5, minLength: 0, maxLength: 3 },
  { title: 'T', type: 'boolean', default: true, readonly: 1, confidential: 'yes' },
  { title: 'T', type: 'boolean', default: false, readonly: 'off' },
  { title: 'T', type: 'array', items: { type: 'string', enum: ['a', 'b'] }, uniqueItems: true, minItems: 1, maxItems: 2, additionalItems: false },
  { title: 'T', type: 'array', items: { enum: ['a'] } },
  { title: 'T', type: 'array', items: { type: 'string', other: 1 } },
  { title: 'T', type: 'string', enum: ['a', 1] },
  { title: 'T', type: 'string', default: [1, 2] },
  { title: 'T', type: 'string', default: { a: 1 } },
  { title: 'T', type: 'string', default: null, description: null },
  { title: 'T', type: 'string', minimum: '12' },
  { title: 'T', type: 'string', minimum: 'x' },
  { title: 'T', type: 'string', readonly: 'maybe' },
  { title: 'T', type: 'string', unknown: 1 },
  { title: 'T' },
  { type: 'string' },
  { title: 5, type: 'string' },
  { title: 'T', type: 'string', operators: 'x' },
];

test('metadef schemas and property types are Glance’s', () => {
  const glance = ask({ schemas: METADEF_SCHEMA_NAMES, types: TYPES });
  const mine = metadefSchemas();
  for (const name of METADEF_SCHEMA_NAMES) assert.deepEqual(mine[name], glance.schemas[name], `/v2/schemas/metadefs/${name}`);
  TYPES.forEach((doc, i) => {
    let got: unknown;
    try {
      got = propertyType(doc, true);
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      got = 'error';
    }
    assert.deepEqual(got, glance.types[i], `property type ${JSON.stringify(doc)}`);
  });
});
