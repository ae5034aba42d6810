// Plugs the format inspector into the shared ingest pipeline: it sees every
// chunk as it streams past and, before the store commits, refuses content that
// is unsafe or is not the declared disk_format (Glance 2025.1 answers 415).

import { checkDeclaredFormat, FormatInspector, type ImageFormatPolicy, type InspectionResult } from '../formats/index.js';
import type { StreamObserver } from './ingest.js';
import { FormatRejectedError } from '../errors/index.js';


export class FormatCheck implements StreamObserver {
  private readonly inspector: FormatInspector;
  result: InspectionResult | undefined;

  constructor(
    private readonly diskFormat: string | null,
    private readonly containerFormat: string | null,
    private readonly policy: ImageFormatPolicy,
  ) {
    this.inspector = new FormatInspector(policy.inspector);
  }

  feed(chunk: Buffer): void {
    this.inspector.feed(chunk);
  }

  finish(): void {
    this.result = this.inspector.finish();
    // Staged data may arrive before the formats are set: then only safety can be judged now,
    // and the match is checked when the data moves to a store.
    const rejection = checkDeclaredFormat(this.result, this.diskFormat ?? 'raw', this.containerFormat ?? 'bare', {
      requireFormatMatch: this.policy.requireFormatMatch && this.diskFormat !== null && this.containerFormat !== null,
    });
    if (rejection) throw new FormatRejectedError(rejection.message);
  }

  /** virtual_size to record: what the inspector computed for inspectable formats. */
  get virtualSize(): number | null {
    return this.result?.virtualSize ?? null;
  }
}
