// VHDX (MS-VHDX): identifier at 0, region table at 192 KiB, metadata region (located by the table) whose table
// points at the Virtual Disk Size item. A Parent Locator item means a differencing disk, i.e. a backing file.
import { fail, msGuid, startsWith, u64le, type Capture, type Detector, type RegionResult, type Verdict } from './detector.js';
import type { SafetyFailure } from './types.js';

const IDENT = Buffer.from('vhdxfile', 'latin1');
const REGION_TABLE_OFFSET = 192 * 1024;
const REGION_TABLE_SIZE = 64 * 1024;
const METADATA_TABLE_SIZE = 64 * 1024;
const MAX_ENTRIES = 2047;
const METADATA_REGION = '8B7CA206-4790-4B9A-B8FE-575F050F886E';
const VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
const PARENT_LOCATOR = 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C';

export class VhdxDetector implements Detector {
  readonly format = 'vhdx' as const;
  private failures: SafetyFailure[] = [];
  private virtualSize: number | null = null;
  private capture: Capture | null = null;

  probe(head: Buffer, capture: Capture): boolean {
    if (!startsWith(head, IDENT)) return false;
    this.capture = capture;
    capture.region(REGION_TABLE_OFFSET, REGION_TABLE_SIZE, (r) => this.onRegionTable(r));
    return true;
  }

  finish(): Verdict {
    if (this.failures.length === 0 && this.virtualSize === null) {
      this.failures.push(fail('header', 'VHDX virtual disk size was not found'));
    }
    return { virtualSize: this.virtualSize, failures: this.failures };
  }

  private unreadable(what: string, r: RegionResult): boolean {
    if (r.complete) return false;
    this.failures.push(fail('header', `VHDX ${what} could not be read: ${r.problem ?? 'stream ended'}`));
    return true;
  }

  private onRegionTable(r: RegionResult): void {
    if (this.unreadable('region table', r)) return;
    const t = r.data;
    if (t.toString('latin1', 0, 4) !== 'regi') {
      this.failures.push(fail('header', 'VHDX region table signature not found'));
      return;
    }
    const count = t.readUInt32LE(8);
    if (count > MAX_ENTRIES) {
      this.failures.push(fail('header', `VHDX region count ${count} exceeds ${MAX_ENTRIES}`));
      return;
    }
    for (let i = 0; i < count; i++) {
      const e = 16 + i * 32;
      if (msGuid(t, e) !== METADATA_REGION) continue;
      const offset = u64le(t, e + 16);
      if (offset === null) break;
      this.capture!.region(offset, METADATA_TABLE_SIZE, (m) => this.onMetadataTable(offset, m));
      return;
    }
    this.failures.push(fail('header', 'VHDX metadata region not found'));
  }

  private onMetadataTable(regionOffset: number, r: RegionResult): void {
    if (this.unreadable('metadata table', r)) return;
    const t = r.data;
    if (t.toString('latin1', 0, 8) !== 'metadata') {
      this.failures.push(fail('header', 'VHDX metadata table signature not found'));
      return;
    }
    const count = t.readUInt16LE(10);
    if (count > MAX_ENTRIES) {
      this.failures.push(fail('header', `VHDX metadata item count ${count} exceeds ${MAX_ENTRIES}`));
      return;
    }
    let sizeItem: number | null = null;
    for (let i = 0; i < count; i++) {
      const e = 32 + i * 32;
      const id = msGuid(t, e);
      if (id === PARENT_LOCATOR) this.failures.push(fail('parent', 'Differencing VHDX depends on a parent disk'));
      if (id === VIRTUAL_DISK_SIZE) sizeItem = t.readUInt32LE(e + 16);
    }
    if (sizeItem === null) {
      this.failures.push(fail('header', 'VHDX virtual disk size item not found'));
      return;
    }
    this.capture!.region(regionOffset + sizeItem, 8, (v) => {
      if (this.unreadable('virtual disk size', v)) return;
      this.virtualSize = u64le(v.data, 0);
    });
  }
}
