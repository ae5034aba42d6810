import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIni } from '../../src/config/ini.js';
import { loadConfig, ConfigError } from '../../src/config/config.js';
import { parseList, parseSize } from '../../src/config/options.js';
import { tempDir } from '../helpers/cleanup.js';

test('ini: comments, continuation lines, quotes and repeated keys', () => {
  const s = parseIni(
    [
      '# comment',
      '[DEFAULT]',
      'bind_host = 0.0.0.0',
      '; another comment',
      'bind_port: 9393',
      '[glance_store]',
      'filesystem_store_datadirs = /a:100',
      'filesystem_store_datadirs = /b:200',
      'description = "quoted value"',
      'multi = first',
      '   second',
    ].join('\n'),
  );
  assert.deepEqual(s.get('DEFAULT')!.get('bind_host'), ['0.0.0.0']);
  assert.deepEqual(s.get('DEFAULT')!.get('bind_port'), ['9393']);
  assert.deepEqual(s.get('glance_store')!.get('filesystem_store_datadirs'), ['/a:100', '/b:200']);
  assert.deepEqual(s.get('glance_store')!.get('description'), ['quoted value']);
  assert.deepEqual(s.get('glance_store')!.get('multi'), ['first\nsecond']);
});

test('ini: an option outside a section is an error', () => {
  assert.throws(() => parseIni('key = value'), /outside of a section/);
});

test('lists accept brackets and sizes accept suffixes', () => {
  assert.deepEqual(parseList('[127.0.0.1, example.com]'), ['127.0.0.1', 'example.com']);
  assert.deepEqual(parseList('file, http'), ['file', 'http']);
  assert.equal(parseSize('10GB', 'x'), 10 * 1024 ** 3);
  assert.equal(parseSize('512', 'x'), 512);
  assert.throws(() => parseSize('ten', 'x'), ConfigError);
});

test('config: glance-api.conf values, then env, then flags', () => {
  const dir = tempDir('imago-conf-');
  const file = join(dir, 'glance-api.conf');
  writeFileSync(
    file,
    [
      '[DEFAULT]',
      'bind_host = 0.0.0.0',
      'bind_port = 9393',
      'workers = 3',
      'image_size_cap = 1000',
      'show_image_direct_url = True',
      'state_path = /var/lib/glance',
      '[database]',
      'connection = sqlite:///$state_path/glance.sqlite',
      '[glance_store]',
      'stores = file, http',
      'default_store = file',
      'filesystem_store_datadir = /var/lib/glance/images/',
      '[paste_deploy]',
      'flavor = keystone',
    ].join('\n'),
  );
  const c = loadConfig({ configFiles: [file], env: { IMAGO_BIND_PORT: '9500' }, set: ['DEFAULT.workers=2'], cwd: dir });
  assert.equal(c.server.bindHost, '0.0.0.0');
  assert.equal(c.server.bindPort, 9500, 'env overrides the file');
  assert.equal(c.server.workers, 2, 'flags override env and file');
  assert.equal(c.api.imageSizeCap, 1000);
  assert.equal(c.api.showImageDirectUrl, true);
  assert.equal(c.database.connection, 'sqlite:////var/lib/glance/glance.sqlite');
  assert.equal(c.auth.flavor, 'keystone');
  assert.equal(c.glanceStore.str('filesystem_store_datadir'), '/var/lib/glance/images/');
  assert.equal(c.configDir, dir);
});

test('config: bad values are reported with their section and key', () => {
  assert.throws(() => loadConfig({ set: ['DEFAULT.bind_port=abc'], env: {} }), /\[DEFAULT\] bind_port/);
  assert.throws(() => loadConfig({ set: ['DEFAULT.show_image_direct_url=maybe'], env: {} }), /not a boolean/);
  assert.throws(() => loadConfig({ set: ['DEFAULT.hashing_algorithm=nope'], env: {} }), /hashing_algorithm/);
});

test('config: the image cache is off without image_cache_dir, and reads Glance\'s options', async () => {
  const { hostname } = await import('node:os');
  const off = loadConfig({ env: {} });
  assert.equal(off.cache.dir, undefined);
  assert.equal(off.cache.maxSize, 10 * 1024 ** 3);
  assert.equal(off.cache.stallTimeSeconds, 86400);
  assert.equal(off.cache.driver, 'sqlite');
  assert.equal(off.cache.nodeReference, hostname());
  const on = loadConfig({
    env: {},
    cwd: '/srv',
    set: [
      'DEFAULT.image_cache_dir=cache',
      'DEFAULT.image_cache_max_size=1048576',
      'DEFAULT.image_cache_stall_time=60',
      'DEFAULT.image_cache_driver=Centralized_DB',
      'DEFAULT.worker_self_reference_url=http://api-1:9292',
    ],
  });
  assert.equal(on.cache.dir, '/srv/cache');
  assert.equal(on.cache.maxSize, 1048576);
  assert.equal(on.cache.stallTimeSeconds, 60);
  assert.equal(on.cache.driver, 'centralized_db');
  assert.equal(on.cache.nodeReference, 'http://api-1:9292');
  assert.equal(loadConfig({ env: {}, set: ['DEFAULT.image_cache_driver=xattr'] }).cache.driver, 'xattr');
  assert.throws(() => loadConfig({ env: {}, set: ['DEFAULT.image_cache_driver=memcache'] }), /image_cache_driver/);
  assert.throws(() => loadConfig({ env: {}, set: ['DEFAULT.image_cache_stall_time=-1'] }), /image_cache_stall_time/);
});
