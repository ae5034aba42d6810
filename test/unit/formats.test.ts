// Format inspector against real images made by qemu-img (Debian qemu-utils), each fed in one chunk and in random
// 1 B .. 64 KiB chunks; virtual sizes are compared with `qemu-img info`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { checkDeclaredFormat } from '../../src/formats/index.js';
import { checks, inspectData, inspectFile, qemuImg, qemuInfo, randomBytes, requireTool, Workdir } from '../helpers/images.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
let w: Workdir;

before(() => {
  requireTool('qemu-img');
  w = new Workdir();
});
after(() => w?.remove());

/** A raw file with data in a few places so converted images have allocated clusters. */
function rawWithData(name: string, size: number): string {
  const file = w.path(name);
  const data = Buffer.alloc(size);
  randomBytes(200 * 1024, 7).copy(data, 0);
  randomBytes(300 * 1024, 8).copy(data, Math.floor(size / 2));
  randomBytes(1000, 9).copy(data, size - 1000);
  writeFileSync(file, data);
  return file;
}

describe('raw', () => {
  test('unrecognised data is raw, virtual size = bytes fed', () => {
    const data = randomBytes(3 * MiB + 123, 42);
    const r = inspectData(data);
    assert.equal(r.format, 'raw');
    assert.equal(r.virtualSize, data.length);
    assert.equal(r.actualSize, data.length);
    assert.ok(r.safety.ok);
    assert.equal(r.compression, null);
  });

  test('empty and tiny streams are raw', () => {
    for (const n of [0, 1, 511, 512, 4096]) {
      const r = inspectData(Buffer.alloc(n));
      assert.equal(r.format, 'raw', `size ${n}`);
      assert.equal(r.virtualSize, n);
    }
  });
});

describe('qcow2', () => {
  test('v3 and v2 (compat=0.10), empty and with data: virtual size as qemu-img', () => {
    const src = rawWithData('src.raw', 24 * MiB + 512);
    const cases: Array<[string, string[]]> = [
      ['empty-v3.qcow2', ['create', '-f', 'qcow2', w.path('empty-v3.qcow2'), '1G']],
      ['empty-v2.qcow2', ['create', '-f', 'qcow2', '-o', 'compat=0.10', w.path('empty-v2.qcow2'), '3G']],
      ['data.qcow2', ['convert', '-f', 'raw', '-O', 'qcow2', src, w.path('data.qcow2')]],
      ['big-cluster.qcow2', ['create', '-f', 'qcow2', '-o', 'cluster_size=2M', w.path('big-cluster.qcow2'), '5G']],
      ['small-cluster.qcow2', ['create', '-f', 'qcow2', '-o', 'cluster_size=512', w.path('small-cluster.qcow2'), '7M']],
    ];
    for (const [name, args] of cases) {
      qemuImg(...args);
      const file = w.path(name);
      const r = inspectFile(file);
      assert.equal(r.format, 'qcow2', name);
      assert.equal(r.virtualSize, qemuInfo(file, 'qcow2')['virtual-size'], name);
      assert.deepEqual(r.safety.failures, [], name);
      assert.equal(checkDeclaredFormat(r, 'qcow2', 'bare'), null, name);
    }
  });

  test('backing file is rejected', () => {
    qemuImg('create', '-f', 'raw', w.path('base.raw'), '10M');
    qemuImg('create', '-f', 'qcow2', '-b', w.path('base.raw'), '-F', 'raw', w.path('child.qcow2'));
    const r = inspectFile(w.path('child.qcow2'));
    assert.equal(r.format, 'qcow2');
    assert.ok(checks(r).includes('backing_file'));
    assert.equal(checkDeclaredFormat(r, 'qcow2', 'bare')?.reason, 'unsafe');
  });

  test('external data-file is rejected (CVE-2024-32498)', () => {
    qemuImg('create', '-f', 'qcow2', '-o', `data_file=${w.path('data.bin')}`, w.path('df.qcow2'), '10M');
    const r = inspectFile(w.path('df.qcow2'));
    assert.equal(r.format, 'qcow2');
    assert.ok(checks(r).includes('data_file'));
    assert.ok(!r.safety.ok);
    assert.match(checkDeclaredFormat(r, 'qcow2', 'bare')!.message, /external data file/);
  });

  test('unknown incompatible feature bits and a data-file extension alone are rejected', () => {
    qemuImg('create', '-f', 'qcow2', w.path('plain.qcow2'), '10M');
    const orig = readFileSync(w.path('plain.qcow2'));
    const unknown = Buffer.from(orig);
    unknown.writeBigUInt64BE(1n << 5n, 72);
    assert.ok(checks(inspectData(unknown)).includes('unknown_features'));

    // Extension list: put a data-file name extension (0x44415441) first, then the end marker.
    const ext = Buffer.from(orig);
    const at = ext.readUInt32BE(100);
    ext.fill(0, at, at + 64);
    ext.writeUInt32BE(0x44415441, at);
    ext.writeUInt32BE(9, at + 4);
    ext.write('/etc/host', at + 8, 'latin1');
    const r = inspectData(ext);
    assert.ok(checks(r).includes('data_file'), JSON.stringify(r.safety));
  });

  test('qcow2 version 1 is refused', () => {
    const b = Buffer.alloc(4096);
    b.write('QFI\xfb', 0, 'latin1');
    b.writeUInt32BE(1, 4);
    const r = inspectData(b);
    assert.equal(r.format, 'qcow2');
    assert.ok(checks(r).includes('version'));
  });
});

describe('vmdk', () => {
  test('monolithicSparse and streamOptimized are accepted, with qemu-img virtual sizes', () => {
    const src = rawWithData('vsrc.raw', 20 * MiB);
    const cases: Array<[string, string[]]> = [
      ['ms.vmdk', ['create', '-f', 'vmdk', w.path('ms.vmdk'), '2G']],
      ['so.vmdk', ['create', '-f', 'vmdk', '-o', 'subformat=streamOptimized', w.path('so.vmdk'), '1G']],
      ['ms-data.vmdk', ['convert', '-f', 'raw', '-O', 'vmdk', src, w.path('ms-data.vmdk')]],
      ['so-data.vmdk', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', src, w.path('so-data.vmdk')]],
    ];
    for (const [name, args] of cases) {
      qemuImg(...args);
      const file = w.path(name);
      const info = qemuInfo(file, 'vmdk');
      const r = inspectFile(file);
      assert.equal(r.format, 'vmdk', name);
      assert.deepEqual(r.safety.failures, [], name);
      assert.equal(r.virtualSize, info['virtual-size'], name);
      assert.equal(String(r.details['vmdkCreateType']), String(info['format-specific']?.data?.['create-type']).toLowerCase());
      assert.equal(checkDeclaredFormat(r, 'vmdk', 'bare'), null, name);
    }
  });

  test('FLAT and split descriptors are rejected (CVE-2022-47951)', () => {
    for (const sub of ['monolithicFlat', 'twoGbMaxExtentFlat', 'twoGbMaxExtentSparse']) {
      const file = w.path(`${sub}.vmdk`);
      qemuImg('create', '-f', 'vmdk', '-o', `subformat=${sub}`, file, '10M');
      const r = inspectFile(file);
      assert.equal(r.format, 'vmdk', sub);
      assert.ok(!r.safety.ok, sub);
      assert.equal(r.details['vmdkCreateType'], sub.toLowerCase());
      // Declared as raw the descriptor is still refused (it is a VMDK, and an unsafe one).
      assert.equal(checkDeclaredFormat(r, 'raw', 'bare')?.reason, 'unsafe', sub);
    }
  });

  test('a hand-made descriptor pointing at /etc/passwd is rejected', () => {
    const desc = [
      '# Disk DescriptorFile',
      'version=1',
      'CID=12345678',
      'parentCID=ffffffff',
      'createType="monolithicFlat"',
      'RW 2048 FLAT "/etc/passwd" 0',
      '',
    ].join('\n');
    const r = inspectData(Buffer.from(desc));
    assert.equal(r.format, 'vmdk');
    assert.ok(!r.safety.ok);
    // Even claiming a sparse type does not help a descriptor-only file.
    const sneaky = desc.replace('monolithicFlat', 'monolithicSparse').replace('FLAT', 'SPARSE');
    assert.ok(!inspectData(Buffer.from(sneaky)).safety.ok);
    // qemu probes a text file with a bare version=1 line as VMDK too.
    assert.equal(inspectData(Buffer.from('version=1\nRW 10 FLAT "/dev/sda" 0\n')).format, 'vmdk');
  });

  /** Rewrites the descriptor embedded in a monolithicSparse file (keeps its sector budget, NUL padded). */
  function patchDescriptor(file: string, edit: (d: string) => string): Buffer {
    const img = Buffer.from(readFileSync(file));
    const at = Number(img.readBigUInt64LE(28)) * 512;
    const len = Number(img.readBigUInt64LE(36)) * 512;
    const nul = img.indexOf(0, at);
    const text = edit(img.toString('latin1', at, nul));
    assert.ok(text.length < len);
    img.fill(0, at, at + len);
    img.write(text, at, 'latin1');
    return img;
  }

  test('embedded descriptors with paths, FLAT extents, parents or a disallowed createType are rejected', () => {
    const file = w.path('base.vmdk');
    qemuImg('create', '-f', 'vmdk', file, '64M');
    const cases: Array<[string, (d: string) => string, string]> = [
      ['absolute extent', (d) => d.replace(/"base\.vmdk"/, '"/etc/passwd"'), 'extent'],
      ['relative escape', (d) => d.replace(/"base\.vmdk"/, '"..\\\\other.vmdk"'), 'extent'],
      ['flat extent', (d) => d.replace('SPARSE', 'FLAT'), 'extent'],
      ['vmfs extent', (d) => d.replace('SPARSE', 'VMFS'), 'extent'],
      ['second extent', (d) => d.replace(/(RW .*\n)/, '$1RW 10 SPARSE "x.vmdk"\n'), 'extent'],
      ['parent hint', (d) => d.replace('createType', 'parentFileNameHint="/etc/shadow"\ncreateType'), 'parent'],
      ['parent cid', (d) => d.replace('parentCID=ffffffff', 'parentCID=1234abcd'), 'parent'],
      ['device type', (d) => d.replace(/createType="\w+"/, 'createType="fullDevice"'), 'create_type'],
      ['garbage line', (d) => d + 'rm -rf /\n', 'descriptor'],
    ];
    for (const [name, edit, check] of cases) {
      const r = inspectData(patchDescriptor(file, edit));
      assert.equal(r.format, 'vmdk', name);
      assert.ok(checks(r).includes(check), `${name}: ${JSON.stringify(r.safety.failures)}`);
    }
  });

  test('vmdk_allowed_types narrows the allow-list', () => {
    qemuImg('create', '-f', 'vmdk', '-o', 'subformat=streamOptimized', w.path('so2.vmdk'), '10M');
    const r = inspectFile(w.path('so2.vmdk'), { vmdkAllowedTypes: ['monolithicSparse'] });
    assert.ok(checks(r).includes('create_type'));
    assert.equal(r.virtualSize, null);
  });

  /** VMware-style streamOptimized: header says "grain directory at end", footer + end-of-stream marker follow. */
  function withFooter(file: string): Buffer {
    const img = readFileSync(file);
    const header = Buffer.from(img.subarray(0, 512));
    const marker = Buffer.alloc(512);
    marker.writeBigUInt64LE(1n, 0);
    marker.writeUInt32LE(3, 12); // MARKER_FOOTER
    const front = Buffer.from(img);
    front.writeBigUInt64LE(0xffffffffffffffffn, 56);
    return Buffer.concat([front, marker, header, Buffer.alloc(512)]);
  }

  test('streamOptimized with a footer is accepted; a tampered footer is rejected', () => {
    const src = rawWithData('fsrc.raw', 4 * MiB);
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', src, w.path('f.vmdk'));
    const img = withFooter(w.path('f.vmdk'));
    writeFileSync(w.path('footer.vmdk'), img);
    const r = inspectData(img);
    assert.deepEqual(r.safety.failures, []);
    assert.equal(r.details['vmdkFooter'], true);
    assert.equal(r.virtualSize, qemuInfo(w.path('footer.vmdk'), 'vmdk')['virtual-size']);

    const badEos = Buffer.from(img);
    badEos.writeUInt32LE(7, img.length - 512 + 12);
    assert.ok(checks(inspectData(badEos)).includes('footer'));
    const chained = Buffer.from(img);
    chained.writeBigUInt64LE(0xffffffffffffffffn, img.length - 1024 + 56);
    assert.ok(checks(inspectData(chained)).includes('footer'));
    const otherDescriptor = Buffer.from(img);
    otherDescriptor.writeBigUInt64LE(2n, img.length - 1024 + 28);
    assert.ok(checks(inspectData(otherDescriptor)).includes('footer'));
  });
});

describe('vhd, vhdx, vdi, luks, ploop, qed', () => {
  test('vhd (vpc) dynamic and fixed', () => {
    qemuImg('create', '-f', 'vpc', w.path('d.vhd'), '100M');
    qemuImg('create', '-f', 'vpc', '-o', 'subformat=fixed', w.path('f.vhd'), '30M');
    qemuImg('create', '-f', 'vpc', '-o', 'force_size=on', w.path('fs.vhd'), '1000M');
    for (const name of ['d.vhd', 'f.vhd', 'fs.vhd']) {
      const r = inspectFile(w.path(name));
      assert.equal(r.format, 'vhd', name);
      assert.equal(r.virtualSize, qemuInfo(w.path(name), 'vpc')['virtual-size'], name);
      assert.ok(r.safety.ok, name);
      assert.equal(checkDeclaredFormat(r, 'vhd', 'bare'), null);
    }
    // A fixed VHD is raw to qemu's probe: accepted as raw, dynamic is not.
    assert.equal(checkDeclaredFormat(inspectFile(w.path('f.vhd')), 'raw', 'bare'), null);
    assert.equal(checkDeclaredFormat(inspectFile(w.path('d.vhd')), 'raw', 'bare')?.reason, 'mismatch');
  });

  test('differencing vhd is rejected', () => {
    qemuImg('create', '-f', 'vpc', w.path('p.vhd'), '10M');
    const img = Buffer.from(readFileSync(w.path('p.vhd')));
    img.writeUInt32BE(4, 60);
    assert.ok(checks(inspectData(img)).includes('parent'));
  });

  test('vhdx', () => {
    qemuImg('create', '-f', 'vhdx', w.path('a.vhdx'), '3G');
    const src = rawWithData('xsrc.raw', 9 * MiB);
    qemuImg('convert', '-f', 'raw', '-O', 'vhdx', src, w.path('b.vhdx'));
    for (const name of ['a.vhdx', 'b.vhdx']) {
      const r = inspectFile(w.path(name));
      assert.equal(r.format, 'vhdx', name);
      assert.equal(r.virtualSize, qemuInfo(w.path(name), 'vhdx')['virtual-size'], name);
      assert.ok(r.safety.ok, JSON.stringify(r.safety));
    }
  });

  test('vhdx needing more buffer than allowed fails clearly', () => {
    qemuImg('create', '-f', 'vhdx', w.path('c.vhdx'), '1G');
    const r = inspectFile(w.path('c.vhdx'), { maxBuffered: 1024 });
    assert.equal(r.format, 'vhdx');
    assert.match(r.safety.failures[0]!.message, /buffered/);
  });

  test('vdi, luks, ploop: virtual size as qemu-img', () => {
    qemuImg('create', '-f', 'vdi', w.path('a.vdi'), '77M');
    // qemu-img times PBKDF2 to pick an iteration count and, on a busy machine, sometimes
    // fails with "Unable to get accurate CPU usage": that is qemu's benchmark, not the inspector.
    for (let attempt = 1; ; attempt++) {
      try {
        qemuImg('create', '-f', 'luks', '--object', 'secret,id=s0,data=pw', '-o', 'key-secret=s0,iter-time=200', w.path('a.luks'), '9M');
        break;
      } catch (e) {
        if (attempt >= 5 || !/accurate CPU usage/.test(String((e as { stderr?: unknown }).stderr ?? e))) throw e;
      }
    }
    qemuImg('create', '-f', 'parallels', w.path('a.hds'), '100M');
    const cases: Array<[string, string, string]> = [
      ['a.vdi', 'vdi', 'vdi'],
      ['a.luks', 'luks', 'luks'],
      ['a.hds', 'parallels', 'ploop'],
    ];
    for (const [name, qfmt, fmt] of cases) {
      const r = inspectFile(w.path(name));
      assert.equal(r.format, fmt, name);
      assert.equal(r.virtualSize, qemuInfo(w.path(name), qfmt)['virtual-size'], name);
      assert.ok(r.safety.ok, name);
      assert.equal(checkDeclaredFormat(r, fmt, 'bare'), null, name);
      assert.equal(checkDeclaredFormat(r, 'raw', 'bare')?.reason, 'mismatch', name);
    }
  });

  test('LUKS v2 is refused (qemu and oslo.utils only understand v1)', () => {
    const h = Buffer.alloc(64 * 1024);
    h.write('LUKS\xba\xbe', 0, 'latin1');
    h.writeUInt16BE(2, 6);
    const r = inspectData(h);
    assert.equal(r.format, 'luks');
    assert.deepEqual(checks(r), ['version']);
  });

  test('qed is recognised and banned', () => {
    qemuImg('create', '-f', 'qed', w.path('a.qed'), '10M');
    const r = inspectFile(w.path('a.qed'));
    assert.equal(r.format, 'qed');
    assert.deepEqual(checks(r), ['banned']);
  });
});

describe('large sparse images stay cheap', () => {
  test('a 10 GiB qcow2 and the raw it describes are inspected from a few KiB', () => {
    qemuImg('create', '-f', 'qcow2', w.path('big.qcow2'), `${10 * GiB}`);
    assert.ok(statSync(w.path('big.qcow2')).size < MiB);
    assert.equal(inspectFile(w.path('big.qcow2')).virtualSize, 10 * GiB);
  });
});
