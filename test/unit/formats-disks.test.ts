// Partition tables (sfdisk), ISOs (genisoimage) and compressed streams (gzip, xz, zstd, bzip2).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { checkDeclaredFormat } from '../../src/formats/index.js';
import { checks, inspectData, inspectFile, qemuImg, randomBytes, requireTool, run, Workdir } from '../helpers/images.js';

const MiB = 1024 * 1024;
let w: Workdir;

before(() => {
  for (const t of ['qemu-img', 'sfdisk', 'genisoimage', 'gzip', 'xz', 'zstd', 'bzip2']) requireTool(t);
  w = new Workdir();
});
after(() => w?.remove());

function partitioned(name: string, label: 'gpt' | 'dos', size = 16 * MiB): string {
  const file = w.path(name);
  writeFileSync(file, Buffer.alloc(size));
  const script = `label: ${label}\n,4MiB,L\n,4MiB,L\n`;
  run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', file], Buffer.from(script));
  return file;
}

/** Recomputes the primary GPT header CRC after an edit. */
function fixHeaderCrc(img: Buffer): void {
  const size = img.readUInt32LE(512 + 12);
  img.writeUInt32LE(0, 512 + 16);
  img.writeUInt32LE(crc32(img.subarray(512, 512 + size)), 512 + 16);
}

describe('gpt', () => {
  test('an sfdisk GPT disk is gpt, sized like raw, safe', () => {
    const file = partitioned('a.gpt', 'gpt');
    const r = inspectFile(file);
    assert.equal(r.format, 'gpt');
    assert.equal(r.virtualSize, 16 * MiB);
    assert.deepEqual(r.safety.failures, []);
    assert.equal(r.details['gptPartitions'], 2);
    // Glance: gpt content may be declared gpt or raw (raw is the superset), not qcow2 or iso.
    assert.equal(checkDeclaredFormat(r, 'gpt', 'bare'), null);
    assert.equal(checkDeclaredFormat(r, 'raw', 'bare'), null);
    assert.equal(checkDeclaredFormat(r, 'ami', 'bare'), null);
    assert.equal(checkDeclaredFormat(r, 'iso', 'bare')?.reason, 'mismatch');
    assert.equal(checkDeclaredFormat(r, 'qcow2', 'bare')?.reason, 'mismatch');
  });

  test('corrupt GPT header and entries fail, and are warnings with gptSafetyNonFatal', () => {
    const img = Buffer.from(readFileSync(partitioned('b.gpt', 'gpt')));
    img[512 + 60] = img[512 + 60]! ^ 0xff; // disk GUID byte: header CRC no longer matches
    const r = inspectData(img);
    assert.deepEqual(checks(r), ['gpt']);
    assert.equal(checkDeclaredFormat(r, 'raw', 'bare')?.reason, 'unsafe');
    const relaxed = inspectData(img, { gptSafetyNonFatal: true });
    assert.ok(relaxed.safety.ok);
    assert.equal(relaxed.safety.warnings[0]!.check, 'gpt');
    assert.equal(checkDeclaredFormat(relaxed, 'raw', 'bare'), null);

    const entries = Buffer.from(readFileSync(w.path('b.gpt')));
    entries.writeBigUInt64LE(1n, 1024 + 32); // first partition now starts at LBA 1, inside the header area
    assert.match(inspectData(entries).safety.failures.map((f) => f.message).join(), /checksum/);
    entries.writeUInt32LE(crc32(entries.subarray(1024, 1024 + 128 * 128)), 512 + 88);
    fixHeaderCrc(entries);
    assert.match(inspectData(entries).safety.failures.map((f) => f.message).join(), /outside the usable area/);
  });

  test('protective MBR rules from oslo.utils', () => {
    const base = readFileSync(partitioned('c.gpt', 'gpt'));
    const extra = Buffer.from(base);
    extra.fill(0x11, 446 + 16, 446 + 32); // a second (hybrid) MBR partition
    extra[446 + 16] = 0;
    assert.ok(checks(inspectData(extra)).includes('mbr'));
    const lba = Buffer.from(base);
    lba.writeUInt32LE(2, 446 + 8);
    assert.match(inspectData(lba).safety.failures[0]!.message, /start LBA/);
    const noHeader = Buffer.from(base);
    noHeader.fill(0, 512, 1024);
    assert.match(inspectData(noHeader).safety.failures[0]!.message, /no GPT header/);
  });

  test('4 KiB-sector GPT is found at LBA 1 = 4096', () => {
    const img = Buffer.alloc(8 * MiB);
    const pmbr = readFileSync(partitioned('d.gpt', 'gpt'));
    pmbr.copy(img, 0, 0, 512);
    // Header at 4096, no entries used; entries at LBA 2 (8192), 128 x 128 bytes.
    const h = img.subarray(4096, 4096 + 92);
    h.write('EFI PART', 0, 'latin1');
    h.writeUInt32LE(0x10000, 8);
    h.writeUInt32LE(92, 12);
    h.writeBigUInt64LE(1n, 24);
    h.writeBigUInt64LE(2047n, 32);
    h.writeBigUInt64LE(6n, 40);
    h.writeBigUInt64LE(2000n, 48);
    h.writeBigUInt64LE(2n, 72);
    h.writeUInt32LE(128, 80);
    h.writeUInt32LE(128, 84);
    h.writeUInt32LE(crc32(img.subarray(8192, 8192 + 128 * 128)), 88);
    h.writeUInt32LE(crc32(h), 16);
    const r = inspectData(img);
    assert.equal(r.format, 'gpt');
    assert.deepEqual(r.safety.failures, []);
    assert.equal(r.details['gptSectorSize'], 4096);
  });
});

describe('mbr', () => {
  test('an sfdisk DOS disk is mbr, accepted as raw or gpt', () => {
    const r = inspectFile(partitioned('a.mbr', 'dos'));
    assert.equal(r.format, 'mbr');
    assert.deepEqual(r.safety.failures, []);
    assert.equal(checkDeclaredFormat(r, 'raw', 'bare'), null);
    assert.equal(checkDeclaredFormat(r, 'gpt', 'bare'), null);
  });

  test('invalid boot flag and empty tables fail; a FAT boot sector is not an MBR', () => {
    const img = Buffer.from(readFileSync(partitioned('b.mbr', 'dos')));
    img[446] = 0x42;
    assert.deepEqual(checks(inspectData(img)), ['mbr']);
    const empty = Buffer.alloc(MiB);
    empty.writeUInt16LE(0xaa55, 510);
    assert.match(inspectData(empty).safety.failures[0]!.message, /no partitions/);
    const fat = Buffer.from(empty);
    fat[0x10] = 2;
    fat[0x15] = 0xf8;
    assert.equal(inspectData(fat).format, 'raw');
  });
});

describe('iso', () => {
  function makeIso(name: string, extra: string[] = []): string {
    const dir = w.path(`${name}.d`);
    run('mkdir', ['-p', dir]);
    writeFileSync(`${dir}/data.bin`, randomBytes(3 * MiB + 17, 5));
    const file = w.path(name);
    run('genisoimage', ['-quiet', '-V', 'TEST', ...extra, '-o', file, dir]);
    return file;
  }

  test('ISO 9660 and UDF: iso, volume size from the primary volume descriptor', () => {
    for (const [name, extra] of [
      ['a.iso', []],
      ['u.iso', ['-udf']],
    ] as Array<[string, string[]]>) {
      const file = makeIso(name, extra);
      const r = inspectFile(file);
      assert.equal(r.format, 'iso', name);
      assert.equal(r.virtualSize, readFileSync(file).length, name);
      assert.ok(r.safety.ok, name);
      assert.equal(checkDeclaredFormat(r, 'iso', 'bare'), null, name);
      assert.equal(checkDeclaredFormat(r, 'raw', 'bare')?.reason, 'mismatch', name);
    }
    assert.equal(inspectFile(w.path('u.iso')).details['isoSubformat'], 'iso9660+udf');
  });

  test('a bootable ISO with a GPT in its system area is accepted as iso (and only as iso)', () => {
    const file = makeIso('h.iso');
    run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', file], Buffer.from('label: gpt\n,1MiB,L\n'));
    const r = inspectFile(file);
    assert.deepEqual(r.matches.sort(), ['gpt', 'iso']);
    assert.equal(r.format, 'iso');
    assert.ok(r.safety.ok);
    assert.equal(checkDeclaredFormat(r, 'iso', 'bare'), null);
    assert.equal(checkDeclaredFormat(r, 'gpt', 'bare')?.reason, 'mismatch');
  });

  test('an ISO with a qcow2 header in its system area matches two formats and is refused', () => {
    const iso = readFileSync(makeIso('q.iso'));
    qemuImg('create', '-f', 'qcow2', w.path('q.qcow2'), '64M');
    const qcow = readFileSync(w.path('q.qcow2'));
    const evil = Buffer.from(iso);
    qcow.copy(evil, 0, 0, 32 * 1024);
    const r = inspectData(evil);
    assert.deepEqual(r.matches.sort(), ['iso', 'qcow2']);
    assert.ok(checks(r).includes('multiple_formats'));
    assert.equal(checkDeclaredFormat(r, 'iso', 'bare')?.reason, 'unsafe');
    assert.equal(checkDeclaredFormat(r, 'qcow2', 'bare')?.reason, 'unsafe');
  });
});

describe('compressed containers', () => {
  test('gzip, xz, zstd and bzip2 are reported as compression of raw data', () => {
    qemuImg('create', '-f', 'qcow2', w.path('c.qcow2'), '1G');
    const payload = Buffer.concat([readFileSync(w.path('c.qcow2')), randomBytes(MiB, 3)]);
    for (const [tool, args, name] of [
      ['gzip', ['-c'], 'gzip'],
      ['xz', ['-c', '-0'], 'xz'],
      ['zstd', ['-c', '-q'], 'zstd'],
      ['bzip2', ['-c'], 'bzip2'],
    ] as Array<[string, string[], string]>) {
      const packed = run(tool, args, payload);
      const r = inspectData(packed);
      assert.equal(r.format, 'raw', tool);
      assert.equal(r.compression, name, tool);
      // Glance sees raw here; a decompressing import must inspect the decompressed stream again.
      assert.equal(checkDeclaredFormat(r, 'raw', 'bare'), null);
      assert.match(checkDeclaredFormat(r, 'qcow2', 'bare')!.message, new RegExp(`${name}-compressed`));
    }
  });
});
