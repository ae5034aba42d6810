// ISO 9660 / UDF: 32 KiB system area, then 2 KiB volume descriptors ("CD001" for ISO 9660; "BEA01", "NSR02"/"NSR03",
// "TEA01" for UDF's volume recognition sequence). The primary volume descriptor gives the volume size.
import type { Detector, Verdict } from './detector.js';

const SYSTEM_AREA = 32 * 1024;
const SECTOR = 2048;
const ISO_ID = 'CD001';
const UDF_IDS = new Set(['NSR02', 'NSR03']);

export class IsoDetector implements Detector {
  readonly format = 'iso' as const;
  private virtualSize: number | null = null;
  private subformat = '';

  probe(head: Buffer): boolean {
    let iso = false;
    let udf = false;
    for (let off = SYSTEM_AREA; off + SECTOR <= head.length; off += SECTOR) {
      const id = head.toString('latin1', off + 1, off + 6);
      if (id === ISO_ID) {
        iso = true;
        if (head[off] === 1 && this.virtualSize === null) {
          // Both-endian fields: the little-endian halves are enough.
          this.virtualSize = head.readUInt32LE(off + 80) * head.readUInt16LE(off + 128);
        }
      } else if (UDF_IDS.has(id)) {
        udf = true;
      }
    }
    this.subformat = iso && udf ? 'iso9660+udf' : iso ? 'iso9660' : 'udf';
    return iso || udf;
  }

  finish(): Verdict {
    return { virtualSize: this.virtualSize, failures: [], details: { isoSubformat: this.subformat } };
  }
}
