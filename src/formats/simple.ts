// Formats that need only a fixed header: VirtualBox VDI, LUKS v1, Virtuozzo ploop (qemu's "parallels").
import { fail, startsWith, u64le, type Detector, type EndInfo, type Verdict } from './detector.js';

const VDI_MAGIC = 0xbeda107f;

/** VDI: magic at 0x40, disk size at 0x170 (qemu block/vdi.c). No references to other files. */
export class VdiDetector implements Detector {
  readonly format = 'vdi' as const;
  private head: Buffer | null = null;

  probe(head: Buffer): boolean {
    if (head.length < 0x44 || head.readUInt32LE(0x40) !== VDI_MAGIC) return false;
    this.head = head.subarray(0, Math.min(head.length, 512));
    return true;
  }

  finish(): Verdict {
    const h = this.head!;
    if (h.length < 0x178) return { virtualSize: null, failures: [fail('header', 'VDI header is truncated')] };
    const size = u64le(h, 0x170);
    return { virtualSize: size, failures: size === null ? [fail('header', 'VDI disk size is out of range')] : [] };
  }
}

const LUKS_MAGIC = Buffer.from('LUKS\xba\xbe', 'latin1');

/** LUKS: only version 1 is understood (as by qemu); the payload follows the header, so size = stream - payload offset. */
export class LuksDetector implements Detector {
  readonly format = 'luks' as const;
  private version = 0;
  private payloadOffset: number | null = null;

  probe(head: Buffer): boolean {
    if (!startsWith(head, LUKS_MAGIC)) return false;
    if (head.length >= 108) {
      this.version = head.readUInt16BE(6);
      this.payloadOffset = head.readUInt32BE(104) * 512;
    }
    return true;
  }

  finish(end: EndInfo): Verdict {
    if (this.payloadOffset === null) return { virtualSize: null, failures: [fail('header', 'LUKS header is truncated')] };
    const failures = [];
    if (this.version !== 1) failures.push(fail('version', `LUKS version ${this.version} is not supported`));
    const size = end.size - this.payloadOffset;
    return { virtualSize: size >= 0 ? size : null, failures, details: { luksVersion: this.version } };
  }
}

const PLOOP_MAGIC_OLD = Buffer.from('WithoutFreeSpace', 'latin1');
const PLOOP_MAGIC_EXT = Buffer.from('WithouFreSpacExt', 'latin1');

/** ploop / Parallels: sector count at 36; old-magic images only use its low 32 bits (qemu block/parallels.c). */
export class PloopDetector implements Detector {
  readonly format = 'ploop' as const;
  private head: Buffer | null = null;

  probe(head: Buffer): boolean {
    if (!startsWith(head, PLOOP_MAGIC_OLD) && !startsWith(head, PLOOP_MAGIC_EXT)) return false;
    this.head = head.subarray(0, Math.min(head.length, 64));
    return true;
  }

  finish(): Verdict {
    const h = this.head!;
    if (h.length < 64) return { virtualSize: null, failures: [fail('header', 'ploop header is truncated')] };
    const failures = [];
    const version = h.readUInt32LE(16);
    if (version !== 2) failures.push(fail('version', `ploop header version ${version} is not supported`));
    let sectors = u64le(h, 36);
    if (sectors !== null && startsWith(h, PLOOP_MAGIC_OLD)) sectors = sectors % 2 ** 32;
    return { virtualSize: sectors === null ? null : sectors * 512, failures };
  }
}
