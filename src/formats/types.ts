/** Names the inspector reports. Disk formats use Glance's `disk_format` spelling (qemu's `vpc` is `vhd`,
 * `parallels` is `ploop`); `mbr` is a legacy-partitioned raw disk, which Glance's `gpt` disk_format covers. */
export type DetectedFormat =
  | 'raw'
  | 'qcow2'
  | 'qed'
  | 'vmdk'
  | 'vhd'
  | 'vhdx'
  | 'vdi'
  | 'iso'
  | 'gpt'
  | 'mbr'
  | 'luks'
  | 'ploop';

/** Compressed containers recognised by magic number only (for a decompression import step). */
export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2';

export interface SafetyFailure {
  /** Short machine name of the check, e.g. `backing_file`, `data_file`, `descriptor`, `mbr`. */
  check: string;
  message: string;
}

export interface InspectionResult {
  /** The single format the content is, or `raw` when nothing specific matched. */
  format: DetectedFormat;
  /** Every format whose signature matched (more than one is suspicious unless listed in `details.resolvedFrom`). */
  matches: DetectedFormat[];
  /** Set only when `format` is `raw` and the stream starts with a compressor's magic number. */
  compression: Compression | null;
  /** Size of the disk the image describes, in bytes; null when it cannot be known from the content. */
  virtualSize: number | null;
  /** Bytes fed. */
  actualSize: number;
  safety: {
    /** False when any failure below must stop the image from being used. */
    ok: boolean;
    failures: SafetyFailure[];
    /** Problems found but demoted (e.g. GPT/MBR checks with gptSafetyNonFatal, or a hybrid ISO's partition table). */
    warnings: SafetyFailure[];
  };
  /** Format-specific facts worth logging (createType, qcow2 version, VHD disk type ...). */
  details: Record<string, string | number | boolean>;
}

export interface InspectorOptions {
  /** VMDK createType values allowed (case-insensitive). Only monolithicSparse and streamOptimized can be vouched
   * for from one stream; anything else listed here is still rejected. Default: both. */
  vmdkAllowedTypes?: readonly string[];
  /** Report GPT/MBR safety-check failures as warnings instead of failures (Glance's gpt_safety_checks_nonfatal). */
  gptSafetyNonFatal?: boolean;
  /** Cap on bytes buffered for regions beyond the fixed 64 KiB head (descriptors, tables). Default 4 MiB. */
  maxBuffered?: number;
}
