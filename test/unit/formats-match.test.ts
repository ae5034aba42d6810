// Glance's declared-format rules (checkDeclaredFormat) and the inspector's streaming contract.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { checkDeclaredFormat, FormatInspector, inspectBuffer } from '../../src/formats/index.js';
import { inspectData, qemuImg, randomBytes, requireTool, Workdir } from '../helpers/images.js';

let w: Workdir;
let qcow2: Buffer;
let unsafeQcow2: Buffer;
const raw = randomBytes(256 * 1024, 11);

before(() => {
  requireTool('qemu-img');
  w = new Workdir();
  qemuImg('create', '-f', 'qcow2', w.path('a.qcow2'), '1G');
  qcow2 = readFileSync(w.path('a.qcow2'));
  qemuImg('create', '-f', 'qcow2', '-b', w.path('a.qcow2'), '-F', 'qcow2', w.path('b.qcow2'));
  unsafeQcow2 = readFileSync(w.path('b.qcow2'));
});
after(() => w?.remove());

describe('checkDeclaredFormat', () => {
  test('declared qcow2 but raw data, and declared raw but qcow2 data, are mismatches', () => {
    const r = checkDeclaredFormat(inspectBuffer(raw), 'qcow2', 'bare');
    assert.equal(r?.reason, 'mismatch');
    assert.match(r!.message, /content is raw.*disk_format qcow2/);
    assert.equal(checkDeclaredFormat(inspectBuffer(qcow2), 'raw', 'bare')?.reason, 'mismatch');
    assert.equal(checkDeclaredFormat(inspectBuffer(qcow2), 'vmdk', 'bare')?.reason, 'mismatch');
    assert.equal(checkDeclaredFormat(inspectBuffer(qcow2), 'qcow2', 'bare'), null);
  });

  test('formats without an inspector (ami, ari, aki, ploop) accept raw data but not image formats', () => {
    for (const df of ['ami', 'ari', 'aki', 'ploop']) {
      assert.equal(checkDeclaredFormat(inspectBuffer(raw), df, 'bare'), null, df);
      assert.equal(checkDeclaredFormat(inspectBuffer(qcow2), df, 'bare')?.reason, 'mismatch', df);
    }
  });

  test('only bare containers are checked', () => {
    for (const cf of ['ovf', 'ova', 'docker', 'ami', 'aki', 'ari', 'compressed']) {
      assert.equal(checkDeclaredFormat(inspectBuffer(unsafeQcow2), 'raw', cf), null, cf);
    }
  });

  test('require_image_format_match=false allows a mismatch but never an unsafe image', () => {
    const off = { requireFormatMatch: false };
    assert.equal(checkDeclaredFormat(inspectBuffer(qcow2), 'raw', 'bare', off), null);
    const r = checkDeclaredFormat(inspectBuffer(unsafeQcow2), 'raw', 'bare', off);
    assert.equal(r?.reason, 'unsafe');
    assert.match(r!.message, /backing_file: Image has a backing file/);
  });

  test('iso must be an ISO; gpt content declared iso is refused', () => {
    const mbr = Buffer.alloc(1 << 20);
    mbr.writeUInt16LE(0xaa55, 510);
    mbr[446 + 4] = 0x83;
    mbr.writeUInt32LE(2048, 446 + 8);
    const r = inspectBuffer(mbr);
    assert.equal(r.format, 'mbr');
    assert.equal(checkDeclaredFormat(r, 'iso', 'bare')?.reason, 'mismatch');
    assert.equal(checkDeclaredFormat(inspectBuffer(raw), 'iso', 'bare')?.reason, 'mismatch');
  });
});

describe('streaming contract', () => {
  test('one-byte chunks give the same result as one chunk', () => {
    const insp = new FormatInspector();
    for (let i = 0; i < qcow2.length; i++) insp.feed(qcow2.subarray(i, i + 1));
    assert.deepEqual(insp.finish(), inspectBuffer(qcow2));
  });

  test('finish() is idempotent and feed() after it throws', () => {
    const insp = new FormatInspector();
    insp.feed(raw);
    const r = insp.finish();
    assert.equal(insp.finish(), r);
    assert.throws(() => insp.feed(raw), /after finish/);
    assert.equal(insp.position, raw.length);
  });

  test('the tail survives chunk sizes around its length', () => {
    qemuImg('create', '-f', 'vpc', '-o', 'subformat=fixed', w.path('f.vhd'), '2M');
    const vhd = readFileSync(w.path('f.vhd'));
    for (const size of [1, 511, 512, 1535, 1536, 1537, 4096]) {
      const insp = new FormatInspector();
      for (let off = 0; off < vhd.length; off += size) insp.feed(vhd.subarray(off, off + size));
      const r = insp.finish();
      assert.equal(r.format, 'vhd', `chunk ${size}`);
      assert.equal(r.details['vhdFooterOnly'], true);
    }
  });

  test('data needed after it streamed past is reported, not silently skipped', () => {
    qemuImg('create', '-f', 'vhdx', w.path('a.vhdx'), '1G');
    const img = Buffer.from(readFileSync(w.path('a.vhdx')));
    // Point the metadata region entry at 128 KiB: behind the region table at 192 KiB, so already streamed.
    const table = 192 * 1024;
    const count = img.readUInt32LE(table + 8);
    let patched = false;
    for (let i = 0; i < count; i++) {
      const e = table + 16 + i * 32;
      if (img.readUInt32LE(e) === 0x8b7ca206) {
        img.writeBigUInt64LE(128n * 1024n, e + 16);
        patched = true;
      }
    }
    assert.ok(patched);
    const r = inspectData(img);
    assert.equal(r.format, 'vhdx');
    assert.match(r.safety.failures[0]!.message, /streamed past/);
  });

  test('truncated headers are failures, not a silent fallback to raw', () => {
    assert.equal(inspectBuffer(qcow2.subarray(0, 40)).format, 'qcow2');
    assert.ok(!inspectBuffer(qcow2.subarray(0, 40)).safety.ok);
    assert.ok(!inspectBuffer(Buffer.from('KDMV\x01\x00\x00\x00', 'latin1')).safety.ok);
    qemuImg('create', '-f', 'vmdk', w.path('t.vmdk'), '1G');
    const cut = inspectBuffer(readFileSync(w.path('t.vmdk')).subarray(0, 700));
    assert.match(cut.safety.failures.map((f) => f.message).join(), /descriptor unreadable/);
  });

  test('a qcow2 cut short before its L1 table is refused', () => {
    const src = randomBytes(3 * 1024 * 1024, 4);
    const file = w.path('src.raw');
    writeFileSync(file, src);
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', file, w.path('c.qcow2'));
    const whole = readFileSync(w.path('c.qcow2'));
    assert.ok(inspectBuffer(whole).safety.ok);
    const l1End = Number(whole.readBigUInt64BE(40)) + whole.readUInt32BE(36) * 8;
    const r = inspectBuffer(whole.subarray(0, l1End - 1));
    assert.match(r.safety.failures[0]!.message, /L1 table lies beyond/);
  });
});

describe('[image_format] options', () => {
  test('defaults and overrides from glance-api.conf', async () => {
    const { parseIni } = await import('../../src/config/ini.js');
    const { OptionReader } = await import('../../src/config/options.js');
    const { imageFormatPolicy } = await import('../../src/formats/index.js');
    const defaults = imageFormatPolicy(new OptionReader(parseIni(''), 'image_format'));
    assert.deepEqual(defaults, {
      inspector: { vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'], gptSafetyNonFatal: false },
      requireFormatMatch: true,
    });
    const set = parseIni(
      '[image_format]\nvmdk_allowed_types = monolithicSparse\ngpt_safety_checks_nonfatal = true\nrequire_image_format_match = false\n',
    );
    assert.deepEqual(imageFormatPolicy(new OptionReader(set, 'image_format')), {
      inspector: { vmdkAllowedTypes: ['monolithicSparse'], gptSafetyNonFatal: true },
      requireFormatMatch: false,
    });
  });
});
