// GET /v2/images query string -> ListQuery, with Glance's validation rules
// (RequestDeserializer.index and _make_conditions_from_filters).

import { badRequest } from '../errors/index.js';
import type { ListFilters, ListQuery, MemberStatus, SortDir, SortKey } from './repository.js';
import type { Visibility } from './model.js';

const SORT_KEYS: readonly SortKey[] = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'];
const IN_COLUMNS = ['name', 'id', 'status', 'container_format', 'disk_format'] as const;
const EQUAL_COLUMNS = ['owner', 'checksum', 'os_hash_value', 'os_hash_algo', 'size', 'virtual_size', 'min_ram', 'min_disk'] as const;
const RANGE_COLUMNS = ['size', 'virtual_size', 'min_ram', 'min_disk'] as const;
const TIME_OPS = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const;

export interface ParsedList extends Omit<ListQuery, 'marker'> {
  markerId: string | undefined;
}

/** Splits Glance's `op:value` syntax; a bare ISO timestamp (which contains ':') is an `eq`. */
export function splitFilterOp(expression: string): [string, string] {
  const i = expression.indexOf(':');
  if (i < 0) return ['eq', expression];
  if (parseIsoTime(expression) !== undefined) return ['eq', expression];
  return [expression.slice(0, i), expression.slice(i + 1)];
}

function parseIsoTime(s: string): Date | undefined {
  // ISO 8601 date or date-time, optional fraction and zone (no zone = UTC, as oslo's parse_isotime).
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(s.trim());
  if (!m) return undefined;
  const zone = m[8] ? (m[8].toUpperCase() === 'Z' ? 'Z' : m[8].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')) : 'Z';
  const text = `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${m[7] ?? ''}${zone}`;
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Values for `in:` — comma separated, double quotes protect commas (api-wg filtering guideline). */
export function splitInValues(value: string): string[] {
  let quotes = 0;
  for (let i = 0; i < value.length; i++) if (value[i] === '"' && value[i - 1] !== '\\') quotes++;
  if (quotes % 2) throw badRequest('Invalid filter value: closing quote is missing.');
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)",?|([^,]+),?|,/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null) {
    if (m[0] === '') break;
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  }
  return out;
}

function popAll(params: [string, string][], key: string): string[] {
  const out: string[] = [];
  for (let i = params.length - 1; i >= 0; i--) {
    if (params[i]![0] === key) out.unshift(params.splice(i, 1)[0]![1]);
  }
  return out;
}

function popLast(params: [string, string][], key: string): string | undefined {
  const all = popAll(params, key);
  return all.length ? all[all.length - 1] : undefined;
}

function parseSort(params: [string, string][]): { keys: SortKey[]; dirs: SortDir[] } {
  const keys: SortKey[] = [];
  const dirs: SortDir[] = [];
  const key = (k: string): SortKey => {
    if (!SORT_KEYS.includes(k as SortKey)) {
      throw badRequest(`Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`);
    }
    return k as SortKey;
  };
  const dir = (d: string): SortDir => {
    if (d !== 'asc' && d !== 'desc') throw badRequest(`Invalid sort direction: ${d}`);
    return d;
  };
  const sort = popAll(params, 'sort');
  if (sort.length) {
    if (params.some(([k]) => k === 'sort_key' || k === 'sort_dir')) throw badRequest('Old and new sorting syntax cannot be combined');
    for (const item of sort[sort.length - 1]!.trim().split(',')) {
      const [k, d] = item.split(':') as [string, string | undefined];
      keys.push(key(k.trim()));
      dirs.push(dir((d ?? 'desc').trim() || 'desc'));
    }
  } else {
    for (const k of popAll(params, 'sort_key')) keys.push(key(k.trim()));
    for (const d of popAll(params, 'sort_dir')) dirs.push(dir(d.trim()));
    if (dirs.length > 1 && dirs.length !== keys.length) throw badRequest('Number of sort dirs does not match the number of sort keys');
  }
  return { keys: keys.length ? keys : ['created_at'], dirs: dirs.length ? dirs : ['desc'] };
}

function boolParam(name: string, v: string): boolean {
  if (v !== 'true' && v !== 'false') throw badRequest(`Invalid value '${v}' for '${name}' filter. Valid values are 'true' or 'false'.`);
  return v === 'true';
}

/** Parses the query; `pairs` is the raw query string in order (repeated keys kept). */
export function parseListQuery(pairs: [string, string][], limits: { limitParamDefault: number; apiLimitMax: number }): ParsedList {
  const params = pairs.map(([k, v]) => [k, v] as [string, string]);
  const limitText = popLast(params, 'limit');
  const markerId = popLast(params, 'marker');
  const memberStatus = (popLast(params, 'member_status') ?? 'accepted') as MemberStatus;
  if (!['pending', 'accepted', 'rejected', 'all'].includes(memberStatus)) throw badRequest(`Invalid status: ${memberStatus}`);
  const tags = popAll(params, 'tag').map((t) => t.trim());
  const sort = parseSort(params);

  let limit = limits.limitParamDefault;
  if (limitText !== undefined) {
    if (!/^\s*-?\d+\s*$/.test(limitText)) throw badRequest('limit param must be an integer');
    const n = Number(limitText);
    if (n < 0) throw badRequest('limit param must be positive');
    limit = n;
  }
  limit = Math.min(limit, limits.apiLimitMax);

  const filters: ListFilters = { inColumns: [], times: [], bounds: [], equals: [], properties: [], tags, osHidden: false };
  let visibility: Visibility | 'all' | undefined;
  for (const [key, value] of params) {
    if (key === 'visibility') {
      if (!['community', 'public', 'private', 'shared', 'all'].includes(value)) throw badRequest(`Invalid visibility value: ${value}`);
      visibility = value as Visibility | 'all';
    } else if (key === 'changes-since') {
      throw badRequest('The "changes-since" filter is no longer available on v2.');
    } else if (key === 'os_hidden') {
      filters.osHidden = boolParam('os_hidden', value.toLowerCase());
    } else if (key === 'protected') {
      filters.equals.push({ column: 'protected', value: boolParam('protected', value) ? 1 : 0 });
    } else if ((key.endsWith('_min') || key.endsWith('_max')) && (RANGE_COLUMNS as readonly string[]).includes(key.slice(0, -4))) {
      if (!/^\s*-?\d+\s*$/.test(value)) throw badRequest('Unable to filter on a range with a non-numeric value.');
      filters.bounds.push({ column: key.slice(0, -4) as (typeof RANGE_COLUMNS)[number], op: key.endsWith('_min') ? '>=' : '<=', value: Number(value) });
    } else if (key === 'created_at' || key === 'updated_at') {
      const [op, text] = splitFilterOp(value);
      const time = parseIsoTime(text);
      if (!time) throw badRequest(`Bad "${key}" query filter format. Use ISO 8601 DateTime notation.`);
      if (!(TIME_OPS as readonly string[]).includes(op)) throw badRequest('Unable to filter on a unknown operator.');
      filters.times.push(...timeConditions(key, op as (typeof TIME_OPS)[number], time, /\.\d/.test(text)));
    } else if ((IN_COLUMNS as readonly string[]).includes(key)) {
      const [op, v] = splitFilterOp(value);
      const column = key as (typeof IN_COLUMNS)[number];
      if (op === 'in') filters.inColumns.push({ column, values: splitInValues(v) });
      else if (op === 'eq') filters.inColumns.push({ column, values: [v] });
      else throw badRequest(`Unable to filter by unknown operator '${op}'.`);
    } else if ((EQUAL_COLUMNS as readonly string[]).includes(key)) {
      filters.equals.push({ column: key as (typeof EQUAL_COLUMNS)[number], value });
    } else {
      filters.properties.push({ name: key, value });
    }
  }
  return { limit, markerId, sortKeys: sort.keys, sortDirs: sort.dirs, memberStatus, visibility, filters };
}

/**
 * Glance shows and compares timestamps to the second; imago stores milliseconds.
 * A whole-second filter value therefore covers [t, t+1s).
 */
function timeConditions(
  column: 'created_at' | 'updated_at',
  op: (typeof TIME_OPS)[number],
  t: Date,
  precise: boolean,
): ListFilters['times'] {
  const at = t.toISOString();
  if (precise) return [{ column, op, value: at }];
  const next = new Date(t.getTime() + 1000).toISOString();
  switch (op) {
    case 'eq':
      return [
        { column, op: 'gte', value: at },
        { column, op: 'lt', value: next },
      ];
    case 'neq':
      return [{ column, op: 'outside', value: at, until: next }];
    case 'gt':
      return [{ column, op: 'gte', value: next }];
    case 'lte':
      return [{ column, op: 'lt', value: next }];
    default:
      return [{ column, op, value: at }];
  }
}
