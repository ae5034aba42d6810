// The dashboard's pure helpers, run here on Node: the disk format it proposes
// for a file (checked on real images made by qemu-img and genisoimage, as the
// server's inspector will see them) and the JSON patch it sends on save.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { HEAD_BYTES, TAIL_BYTES, proposeDiskFormat } from '../../web/src/lib/diskFormat.js';
import { imagePatch } from '../../web/src/lib/patch.js';
import { qemuImg, randomBytes, requireTool, run, Workdir } from '../helpers/images.js';

let w: Workdir;
before(() => {
  requireTool('qemu-img');
  requireTool('genisoimage');
  w = new Workdir();
});
after(() => w?.remove());

/** What the page reads of a File: the head, and the tail for a fixed VHD's footer. */
function propose(file: string): string {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    readSync(fd, head, 0, head.length, 0);
    const tail = Buffer.alloc(size > HEAD_BYTES ? TAIL_BYTES : 0);
    if (tail.length) readSync(fd, tail, 0, tail.length, size - TAIL_BYTES);
    return proposeDiskFormat(head, tail);
  } finally {
    closeSync(fd);
  }
}

describe('disk format proposal from the first bytes', () => {
  const cases: [string, string[], string][] = [
    ['qcow2', ['-f', 'qcow2'], 'qcow2'],
    ['vmdk', ['-f', 'vmdk'], 'vmdk'],
    ['vmdk-stream', ['-f', 'vmdk', '-o', 'subformat=streamOptimized'], 'vmdk'],
    ['vhd-dynamic', ['-f', 'vpc'], 'vhd'],
    ['vhd-fixed', ['-f', 'vpc', '-o', 'subformat=fixed'], 'vhd'],
    ['vhdx', ['-f', 'vhdx'], 'vhdx'],
    ['raw', ['-f', 'raw'], 'raw'],
  ];
  for (const [name, args, expected] of cases) {
    test(`${name} -> ${expected}`, () => {
      const file = w.path(`${name}.img`);
      qemuImg('create', ...args, file, '8M');
      assert.equal(propose(file), expected);
    });
  }
  test('iso -> iso', () => {
    writeFileSync(w.path('hello.txt'), 'hello');
    run('genisoimage', ['-quiet', '-o', w.path('disk.iso'), w.path('hello.txt')]);
    assert.equal(propose(w.path('disk.iso')), 'iso');
  });
  test('random bytes and tiny files -> raw', () => {
    assert.equal(proposeDiskFormat(randomBytes(100_000, 7)), 'raw');
    assert.equal(proposeDiskFormat(new Uint8Array(3)), 'raw');
    assert.equal(proposeDiskFormat(new Uint8Array(0)), 'raw');
  });
});

describe('the patch sent on save', () => {
  const image = { name: 'a', min_disk: 0, tags: ['x'], hw_disk_bus: 'scsi', os_distro: 'debian', protected: false };
  test('only what changed, adds and removes', () => {
    const ops = imagePatch(image, { name: 'b', min_disk: 0, tags: ['x', 'y'], hw_disk_bus: 'scsi', protected: true, 'dash/kind': 'large' }, ['os_distro']);
    assert.deepEqual(ops, [
      { op: 'replace', path: '/name', value: 'b' },
      { op: 'replace', path: '/tags', value: ['x', 'y'] },
      { op: 'replace', path: '/protected', value: true },
      { op: 'add', path: '/dash~1kind', value: 'large' },
      { op: 'remove', path: '/os_distro' },
    ]);
  });
  test('nothing changed, nothing sent', () => {
    assert.deepEqual(imagePatch(image, { ...image }), []);
  });
});
