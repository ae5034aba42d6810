// The Keystone catalog lookup every caller of another service uses (Swift's
// storage URL, glance-download's image service of another region).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointFromCatalog } from '../../src/auth/catalog.js';

test('catalog: by service type, interface (publicURL -> public) and region; v2-style entries too', () => {
  const catalog = [
    { type: 'image', endpoints: [{ interface: 'public', region: 'R1', url: 'http://glance' }] },
    {
      type: 'object-store',
      endpoints: [
        { interface: 'public', region: 'R1', region_id: 'R1', url: 'http://pub-r1' },
        { interface: 'internal', region: 'R1', region_id: 'R1', url: 'http://int-r1' },
        { interface: 'public', region: 'R2', region_id: 'R2', url: 'http://pub-r2' },
      ],
    },
  ];
  const sel = { endpointType: 'publicURL' as const, serviceType: 'object-store' };
  assert.equal(endpointFromCatalog(catalog, sel), 'http://pub-r1');
  assert.equal(endpointFromCatalog(catalog, { ...sel, region: 'R2' }), 'http://pub-r2');
  assert.equal(endpointFromCatalog(catalog, { ...sel, endpointType: 'internalURL' }), 'http://int-r1');
  assert.equal(endpointFromCatalog(catalog, { ...sel, region: 'R3' }), undefined);
  assert.equal(endpointFromCatalog(catalog, { ...sel, serviceType: 'swift' }), undefined);
  const v2 = [{ type: 'object-store', endpoints: [{ region: 'R1', publicURL: 'http://v2-pub', adminURL: 'http://v2-adm' }] }];
  assert.equal(endpointFromCatalog(v2 as never, { ...sel, endpointType: 'adminURL' }), 'http://v2-adm');
});
