// Partitioned raw disks: a legacy MBR (boot signature 0xAA55 at 510), or a GPT behind a protective MBR (type 0xEE).
// MBR checks follow oslo.utils; GPT header/entries checks follow the UEFI spec (chapter 5).
import { crc32 } from 'node:zlib';
import { fail, startsWith, u64le, type Capture, type Detector, type EndInfo, type RegionResult, type Verdict } from './detector.js';
import type { SafetyFailure } from './types.js';

const MBR_SIGNATURE = 0xaa55;
const PTE_START = 446;
const PROTECTIVE = 0xee;
const FAT_MEDIA_FIXED_DISK = 0xf8;
const GPT_SIGNATURE = Buffer.from('EFI PART', 'latin1');
const SECTOR_SIZES = [512, 4096];
const MIN_HEADER = 92;

export class PartitionTableDetector implements Detector {
  format: 'gpt' | 'mbr' = 'mbr';
  private failures: SafetyFailure[] = [];
  private details: Record<string, string | number | boolean> = {};
  private gpt: { sectorSize: number; firstUsable: number; lastUsable: number; entrySize: number; entriesCrc: number } | null =
    null;

  probe(head: Buffer, capture: Capture): boolean {
    if (head.length < 512 || head.readUInt16LE(510) !== MBR_SIGNATURE) return false;
    // A FAT volume boot record carries the same signature; two FATs on a fixed disk means it is one, not an MBR.
    if (head[0x10] === 2 && head[0x15] === FAT_MEDIA_FIXED_DISK) return false;
    const protective = this.checkMbr(head);
    if (protective) {
      this.format = 'gpt';
      this.findGptHeader(head, capture);
    }
    return true;
  }

  finish(end: EndInfo): Verdict {
    return { virtualSize: end.size, failures: this.failures, details: this.details };
  }

  /** oslo.utils' MBR rules; returns whether a GPT protective partition is present. */
  private checkMbr(mbr: Buffer): boolean {
    const used: number[] = [];
    let protective = false;
    for (let i = 0; i < 4; i++) {
      const p = PTE_START + 16 * i;
      const boot = mbr[p]!;
      const type = mbr[p + 4]!;
      if (boot !== 0x00 && boot !== 0x80) this.failures.push(fail('mbr', `MBR partition ${i} has an invalid boot flag`));
      if (type !== 0) used.push(i);
      if (type === PROTECTIVE) {
        protective = true;
        if (mbr[p + 1] !== 0x00 || mbr[p + 2] !== 0x02 || mbr[p + 3] !== 0x00) {
          this.failures.push(fail('mbr', 'GPT protective MBR has an invalid start CHS'));
        }
        if (mbr.readUInt32LE(p + 8) !== 1) this.failures.push(fail('mbr', 'GPT protective MBR has an invalid start LBA'));
      }
    }
    if (protective && (used.length !== 1 || used[0] !== 0)) {
      this.failures.push(fail('mbr', 'GPT protective MBR defines extra partitions'));
    }
    if (used.length === 0) this.failures.push(fail('mbr', 'MBR has no partitions defined'));
    return protective;
  }

  private findGptHeader(head: Buffer, capture: Capture): void {
    const sectorSize = SECTOR_SIZES.find((s) => startsWith(head, GPT_SIGNATURE, s));
    if (sectorSize === undefined) {
      this.failures.push(fail('gpt', 'Protective MBR but no GPT header at LBA 1'));
      return;
    }
    const h = head.subarray(sectorSize, Math.min(head.length, 2 * sectorSize));
    if (h.length < MIN_HEADER) {
      this.failures.push(fail('gpt', 'GPT header is truncated'));
      return;
    }
    const headerSize = h.readUInt32LE(12);
    if (headerSize < MIN_HEADER || headerSize > sectorSize) {
      this.failures.push(fail('gpt', `GPT header size ${headerSize} is invalid`));
      return;
    }
    const copy = Buffer.from(h.subarray(0, headerSize));
    copy.writeUInt32LE(0, 16);
    if (crc32(copy) !== h.readUInt32LE(16)) this.failures.push(fail('gpt', 'GPT header checksum mismatch'));
    if (h.readBigUInt64LE(24) !== 1n) this.failures.push(fail('gpt', 'GPT header does not describe LBA 1'));
    const firstUsable = u64le(h, 40);
    const lastUsable = u64le(h, 48);
    const entriesLba = u64le(h, 72);
    const count = h.readUInt32LE(80);
    const entrySize = h.readUInt32LE(84);
    if (firstUsable === null || lastUsable === null || firstUsable > lastUsable) {
      this.failures.push(fail('gpt', 'GPT usable LBA range is invalid'));
    }
    if (entrySize < 128 || entrySize % 8 !== 0) this.failures.push(fail('gpt', `GPT entry size ${entrySize} is invalid`));
    if (entriesLba === null || entriesLba < 2) this.failures.push(fail('gpt', 'GPT partition entries overlap the header'));
    this.details = { gptSectorSize: sectorSize, gptEntries: count };
    if (this.failures.some((f) => f.check === 'gpt')) return;
    this.gpt = { sectorSize, firstUsable: firstUsable!, lastUsable: lastUsable!, entrySize, entriesCrc: h.readUInt32LE(88) };
    capture.region(entriesLba! * sectorSize, count * entrySize, (r) => this.onEntries(r));
  }

  private onEntries(r: RegionResult): void {
    const g = this.gpt!;
    if (!r.complete) {
      this.failures.push(fail('gpt', `GPT partition entries could not be read: ${r.problem ?? 'stream ended'}`));
      return;
    }
    if (crc32(r.data) !== g.entriesCrc) this.failures.push(fail('gpt', 'GPT partition entries checksum mismatch'));
    let used = 0;
    for (let off = 0; off + g.entrySize <= r.data.length; off += g.entrySize) {
      if (r.data.subarray(off, off + 16).every((b) => b === 0)) continue;
      used++;
      const first = u64le(r.data, off + 32);
      const last = u64le(r.data, off + 40);
      if (first === null || last === null || first > last || first < g.firstUsable || last > g.lastUsable) {
        this.failures.push(fail('gpt', `GPT partition ${off / g.entrySize + 1} lies outside the usable area`));
      }
    }
    this.details['gptPartitions'] = used;
  }
}
