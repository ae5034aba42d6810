import { HEAD_SIZE, TAIL_SIZE, type Capture, type Detector, type EndInfo, type RegionResult, type Verdict } from './detector.js';
import { detectCompression } from './compression.js';
import { Qcow2Detector, QedDetector } from './qcow2.js';
import { VmdkDetector } from './vmdk.js';
import { VhdDetector } from './vhd.js';
import { VhdxDetector } from './vhdx.js';
import { IsoDetector } from './iso.js';
import { PartitionTableDetector } from './gpt.js';
import { LuksDetector, PloopDetector, VdiDetector } from './simple.js';
import type { DetectedFormat, InspectionResult, InspectorOptions, SafetyFailure } from './types.js';

const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;
/** Small chunks are gathered here so each is copied once; must exceed TAIL_SIZE by far to amortise compaction. */
const RING_SIZE = 32 * 1024;
/** Checks whose failures belong to partition tables (demoted by gptSafetyNonFatal or inside a hybrid ISO). */
const PARTITION_CHECKS = new Set(['mbr', 'gpt']);

interface PendingRegion {
  start: number;
  end: number;
  buf: Buffer;
  /** Bytes captured so far, contiguous from `start`. */
  filled: number;
  done: (r: RegionResult) => void;
}

/**
 * Streaming disk-image inspector: feed every chunk of an image once, in order, then call finish().
 *
 * Memory: a 64 KiB head, a 32 KiB ring for the tail, and only the regions detectors ask for (capped by maxBuffered).
 * Once the head is full and no region is pending, feed() does a few comparisons per chunk.
 * feed() keeps a reference to the latest chunk (for the tail) until the next feed()/finish(): callers must not
 * overwrite a chunk's memory after handing it over (Node streams never do).
 */
export class FormatInspector {
  private readonly detectors: Detector[];
  private readonly matched = new Set<Detector>();
  private readonly gptSafetyNonFatal: boolean;
  private readonly maxBuffered: number;

  private pos = 0;
  private readonly head = Buffer.allocUnsafe(HEAD_SIZE);
  private headLen = 0;
  private probed = false;

  private regions: PendingRegion[] = [];
  /** Smallest stream offset any pending region still needs; Infinity when none (the hot-path test). */
  private nextNeeded = Infinity;
  private buffered = 0;
  /** Set while regions are being filled from a chunk, so regions added meanwhile get that chunk too. */
  private chunkInFlight: { chunk: Buffer; start: number } | null = null;
  /** Stream offset at which the current request is made (end of the region that prompted it), so whether data
   * counts as already gone never depends on how the stream was chunked. */
  private requestAt = 0;

  /** The latest chunk when it alone covers the tail (no copy); otherwise null and the tail is in `ring`. */
  private last: Buffer | null = null;
  /** Small chunks are appended here; compacted to its last TAIL_SIZE bytes when full. */
  private readonly ring = Buffer.allocUnsafe(RING_SIZE);
  private ringLen = 0;
  private finished: InspectionResult | null = null;

  constructor(opts: InspectorOptions = {}) {
    this.gptSafetyNonFatal = opts.gptSafetyNonFatal ?? false;
    this.maxBuffered = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    // Order is the tie-break for reporting when several signatures match.
    this.detectors = [
      new Qcow2Detector(),
      new QedDetector(),
      new VmdkDetector(opts.vmdkAllowedTypes),
      new VhdxDetector(),
      new VhdDetector(),
      new VdiDetector(),
      new LuksDetector(),
      new PloopDetector(),
      new IsoDetector(),
      new PartitionTableDetector(),
    ];
  }

  /** Bytes fed so far. */
  get position(): number {
    return this.pos;
  }

  feed(chunk: Buffer): void {
    const len = chunk.length;
    if (len === 0) return;
    if (this.finished) throw new Error('FormatInspector: feed() after finish()');
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    if (start < HEAD_SIZE) this.fillHead(chunk, start);
    if (end > this.nextNeeded) this.fillRegions(chunk, start);
    if (len >= TAIL_SIZE) {
      this.last = chunk;
    } else {
      this.keepSmallChunk(chunk);
    }
  }

  finish(): InspectionResult {
    if (this.finished) return this.finished;
    if (!this.probed) this.runProbes(this.head.subarray(0, this.headLen));
    // Whatever is still pending was cut short by the end of the stream (callbacks may chain more regions).
    this.requestAt = this.pos;
    while (this.regions.length > 0) {
      const pending = this.regions;
      this.regions = [];
      this.nextNeeded = Infinity;
      for (const r of pending) r.done({ data: r.buf.subarray(0, r.filled), complete: false });
    }

    const end: EndInfo = { size: this.pos, tail: this.assembleTail() };
    this.last = null;
    for (const d of this.detectors) {
      if (!this.matched.has(d) && d.probeEnd?.(end)) this.matched.add(d);
    }
    this.finished = this.resolve(end);
    return this.finished;
  }

  // ---- capture machinery -------------------------------------------------------------------------------------

  private fillHead(chunk: Buffer, start: number): void {
    const n = Math.min(chunk.length, HEAD_SIZE - start);
    chunk.copy(this.head, start, 0, n);
    this.headLen = start + n;
    if (this.headLen === HEAD_SIZE) {
      // Regions detectors register now may lie in the rest of this chunk.
      this.chunkInFlight = { chunk, start };
      this.runProbes(this.head);
      this.chunkInFlight = null;
    }
  }

  private runProbes(head: Buffer): void {
    this.probed = true;
    this.requestAt = head.length;
    const capture: Capture = { region: (offset, length, done) => this.addRegion(offset, length, done) };
    for (const d of this.detectors) {
      if (d.probe(head, capture)) this.matched.add(d);
    }
  }

  private addRegion(offset: number, length: number, done: (r: RegionResult) => void): void {
    const end = offset + length;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(end) || offset < 0 || length < 0) {
      done({ data: Buffer.alloc(0), complete: false, problem: 'region offset out of range' });
      return;
    }
    if (end <= this.headLen) {
      done({ data: this.head.subarray(offset, end), complete: true });
      return;
    }
    if (this.buffered + length > this.maxBuffered) {
      done({ data: Buffer.alloc(0), complete: false, problem: `needs more than ${this.maxBuffered} bytes buffered` });
      return;
    }
    this.buffered += length;
    const region: PendingRegion = { start: offset, end, buf: Buffer.alloc(length), filled: 0, done };
    if (offset < this.headLen) {
      region.filled = this.head.copy(region.buf, 0, offset, this.headLen);
    }
    // Bytes past the head and before the point of the request have gone by without being kept.
    if (offset + region.filled < this.requestAt) {
      this.buffered -= length;
      done({ data: Buffer.alloc(0), complete: false, problem: `data at offset ${offset} was needed after it streamed past` });
      return;
    }
    this.regions.push(region);
    this.nextNeeded = Math.min(this.nextNeeded, offset + region.filled);
    const inFlight = this.chunkInFlight;
    if (inFlight) this.fillRegions(inFlight.chunk, inFlight.start);
  }

  private fillRegions(chunk: Buffer, chunkStart: number): void {
    const outer = this.chunkInFlight;
    this.chunkInFlight = { chunk, start: chunkStart };
    const chunkEnd = chunkStart + chunk.length;
    let next = Infinity;
    const keep: PendingRegion[] = [];
    const completed: PendingRegion[] = [];
    for (const r of this.regions) {
      const want = r.start + r.filled;
      if (want >= chunkStart && want < chunkEnd) {
        const upto = Math.min(r.end, chunkEnd);
        chunk.copy(r.buf, r.filled, want - chunkStart, upto - chunkStart);
        r.filled = upto - r.start;
      }
      if (r.start + r.filled >= r.end) completed.push(r);
      else {
        keep.push(r);
        next = Math.min(next, r.start + r.filled);
      }
    }
    this.regions = keep;
    this.nextNeeded = next;
    // Callbacks may add regions; addRegion feeds them this same chunk through chunkInFlight.
    for (const r of completed) {
      this.requestAt = r.end;
      r.done({ data: r.buf, complete: true });
    }
    this.chunkInFlight = outer;
  }

  private keepSmallChunk(chunk: Buffer): void {
    if (this.last) {
      // The tail now spans the previous big chunk and this one.
      this.ring.set(this.last.subarray(this.last.length - TAIL_SIZE), 0);
      this.ringLen = TAIL_SIZE;
      this.last = null;
    }
    if (this.ringLen + chunk.length > RING_SIZE) {
      this.ring.copyWithin(0, this.ringLen - TAIL_SIZE, this.ringLen);
      this.ringLen = TAIL_SIZE;
    }
    this.ring.set(chunk, this.ringLen);
    this.ringLen += chunk.length;
  }

  private assembleTail(): Buffer {
    const src = this.last ?? this.ring.subarray(0, this.ringLen);
    return Buffer.from(src.subarray(Math.max(0, src.length - TAIL_SIZE)));
  }

  // ---- verdict ----------------------------------------------------------------------------------------------

  private resolve(end: EndInfo): InspectionResult {
    const matchedDetectors = this.detectors.filter((d) => this.matched.has(d));
    const verdicts = new Map<Detector, Verdict>();
    for (const d of matchedDetectors) verdicts.set(d, d.finish(end));
    const matches = matchedDetectors.map((d) => d.format);
    const details: Record<string, string | number | boolean> = {};
    const failures: SafetyFailure[] = [];
    const warnings: SafetyFailure[] = [];

    if (matchedDetectors.length === 0) {
      return {
        format: 'raw',
        matches: [],
        compression: detectCompression(this.head.subarray(0, this.headLen)),
        virtualSize: end.size,
        actualSize: end.size,
        safety: { ok: true, failures, warnings },
        details,
      };
    }

    let chosen = matchedDetectors[0]!;
    // Detectors whose findings describe the guest's content rather than the container (demoted to warnings).
    let contentOnly = new Set<Detector>();
    if (matchedDetectors.length > 1) {
      const names = new Set(matches);
      const others = (except: DetectedFormat) => [...names].filter((n) => n !== except);
      const vhd = matchedDetectors.find((d) => d.format === 'vhd');
      const vhdFixedOnly = vhd !== undefined && verdicts.get(vhd)?.details?.['vhdFooterOnly'] === true;
      if (names.has('iso') && others('iso').every((n) => n === 'gpt' || n === 'mbr')) {
        // Bootable (isohybrid) ISOs carry an MBR/GPT in the ISO 9660 system area; Glance accepts them as iso.
        chosen = matchedDetectors.find((d) => d.format === 'iso')!;
        details['resolvedFrom'] = matches.join('+');
      } else if (vhd && vhdFixedOnly && others('vhd').every((n) => n === 'gpt' || n === 'mbr' || n === 'iso')) {
        // A fixed VHD is a raw disk plus a trailing footer; the disk inside may well be partitioned.
        chosen = vhd;
        details['resolvedFrom'] = matches.join('+');
      } else {
        failures.push({
          check: 'multiple_formats',
          message: `Content matches more than one format: ${matches.join(', ')}`,
        });
      }
      if (details['resolvedFrom']) contentOnly = new Set(matchedDetectors.filter((d) => d !== chosen));
    }

    for (const d of matchedDetectors) {
      const v = verdicts.get(d)!;
      const demote = contentOnly.has(d);
      for (const f of v.failures) {
        if (demote || (this.gptSafetyNonFatal && PARTITION_CHECKS.has(f.check))) warnings.push(f);
        else failures.push(f);
      }
      if (d === chosen && v.details) Object.assign(details, v.details);
    }

    return {
      format: chosen.format,
      matches,
      compression: null,
      virtualSize: verdicts.get(chosen)!.virtualSize,
      actualSize: end.size,
      safety: { ok: failures.length === 0, failures, warnings },
      details,
    };
  }
}

/** Inspects a whole buffer in one call (tests, small files). */
export function inspectBuffer(data: Buffer, opts?: InspectorOptions): InspectionResult {
  const insp = new FormatInspector(opts);
  insp.feed(data);
  return insp.finish();
}
