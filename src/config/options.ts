// Typed readers over INI sections with oslo.config's value syntax:
// booleans (true/false/yes/no/on/off/1/0), integers, lists (comma separated,
// optionally wrapped in brackets) and sizes with B/KB/MB/GB/TB suffixes.

import type { IniSections } from './ini.js';

export class ConfigError extends Error {}

export class OptionReader {
  constructor(
    private readonly sections: IniSections,
    readonly section: string,
    /** Section consulted when the option is not set here (multistore falls back to [glance_store]). */
    private readonly fallback?: OptionReader,
  ) {}

  has(key: string): boolean {
    return this.values(key) !== undefined;
  }

  private values(key: string): string[] | undefined {
    const own = this.sections.get(this.section)?.get(key);
    if (own !== undefined) return own;
    return this.fallback ? this.fallback.raw(key) : undefined;
  }

  raw(key: string): string[] | undefined {
    return this.values(key);
  }

  str(key: string, def: string): string;
  str(key: string, def?: string): string | undefined;
  str(key: string, def?: string): string | undefined {
    const v = this.values(key);
    if (v === undefined || v.length === 0) return def;
    const last = v[v.length - 1]!;
    return last === '' && def !== undefined ? def : last;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.str(key);
    if (v === undefined || v === '') return def;
    const s = v.trim().toLowerCase();
    if (['true', 'yes', 'on', '1'].includes(s)) return true;
    if (['false', 'no', 'off', '0'].includes(s)) return false;
    throw new ConfigError(`[${this.section}] ${key}: "${v}" is not a boolean`);
  }

  int(key: string, def: number, min?: number): number {
    const v = this.str(key);
    if (v === undefined || v.trim() === '') return def;
    if (!/^-?\d+$/.test(v.trim())) throw new ConfigError(`[${this.section}] ${key}: "${v}" is not an integer`);
    const n = Number(v.trim());
    if (min !== undefined && n < min) throw new ConfigError(`[${this.section}] ${key}: ${n} is below the minimum ${min}`);
    return n;
  }

  list(key: string, def: string[]): string[] {
    const v = this.str(key);
    if (v === undefined) return def;
    return parseList(v);
  }

  /** Every occurrence of a repeated key (MultiStrOpt). */
  multi(key: string): string[] {
    return (this.values(key) ?? []).map((s) => s.trim()).filter((s) => s !== '');
  }

  /** A dict option: `key1:value1, key2:value2`. */
  dict(key: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const item of this.list(key, [])) {
      const i = item.indexOf(':');
      if (i <= 0) throw new ConfigError(`[${this.section}] ${key}: "${item}" is not key:value`);
      out[item.slice(0, i).trim()] = item.slice(i + 1).trim();
    }
    return out;
  }

  /** Bytes with an optional B/KB/MB/GB/TB suffix (powers of 1024, as Glance's user_storage_quota). */
  size(key: string, def: number): number {
    const v = this.str(key);
    if (v === undefined || v.trim() === '') return def;
    return parseSize(v, `[${this.section}] ${key}`);
  }
}

export function parseList(v: string): string[] {
  let s = v.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  return s
    .split(',')
    .map((x) => x.trim())
    .map((x) => (x.length >= 2 && (x[0] === '"' || x[0] === "'") && x.endsWith(x[0]) ? x.slice(1, -1) : x))
    .filter((x) => x !== '');
}

export function parseSize(v: string, what: string): number {
  const m = /^\s*(\d+)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(v);
  if (!m) throw new ConfigError(`${what}: "${v}" is not a size (e.g. 10GB)`);
  const units: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
  return Number(m[1]) * units[(m[2] ?? 'B').toUpperCase()]!;
}
