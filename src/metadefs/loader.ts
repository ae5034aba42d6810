// `imago db load-metadefs`: loads metadata definitions from JSON files (the ones
// Glance ships, which distributions install in /etc/glance/metadefs) into the
// database, as `glance-manage db_load_metadefs` does. Idempotent: a namespace
// already in the database is skipped, unless --merge adds what it lacks
// (--prefer-new also overwrites what both have; --overwrite replaces it whole).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isObject, type JsonObject } from './model.js';
import type { MetadefRepository, NamespaceValues } from './repository.js';

export const DEFAULT_METADEFS_PATH = '/etc/glance/metadefs';

export interface LoadOptions {
  /** A directory of *.json files, or one file. */
  path: string;
  merge?: boolean;
  preferNew?: boolean;
  overwrite?: boolean;
}

export interface LoadReport {
  /** Namespaces created (or re-created by --overwrite). */
  created: string[];
  /** Namespaces that existed and were merged into. */
  merged: string[];
  /** Namespaces that existed and were left alone. */
  skipped: string[];
  failed: { file: string; error: string }[];
}

/** Bad options or no files to load: nothing was done. */
export class LoadError extends Error {}

export function metadefFiles(path: string): string[] {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    throw new LoadError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (isFile) return [path];
  const files = readdirSync(path, { withFileTypes: true })
    .filter((d) => d.name.endsWith('.json') && (d.isFile() || (d.isSymbolicLink() && statSync(join(path, d.name)).isFile())))
    .map((d) => join(path, d.name))
    .sort();
  if (!files.length) throw new LoadError(`no metadata definition files (*.json) in ${path}`);
  return files;
}

export async function loadMetadefs(repo: MetadefRepository, opts: LoadOptions): Promise<LoadReport> {
  if ((opts.preferNew || opts.overwrite) && !opts.merge) throw new LoadError('--prefer-new and --overwrite only go with --merge');
  if (opts.preferNew && opts.overwrite) throw new LoadError('give at most one of --prefer-new and --overwrite');
  const report: LoadReport = { created: [], merged: [], skipped: [], failed: [] };
  for (const file of metadefFiles(opts.path)) {
    let doc: JsonObject;
    try {
      doc = parseDefinition(readFileSync(file, 'utf8'));
    } catch (e) {
      report.failed.push({ file, error: (e as Error).message });
      continue;
    }
    try {
      const outcome = await repo.transaction((r) => loadNamespace(r, doc, opts));
      report[outcome].push(doc.namespace as string);
    } catch (e) {
      report.failed.push({ file, error: (e as Error).message });
    }
  }
  return report;
}

function parseDefinition(text: string): JsonObject {
  const doc: unknown = JSON.parse(text);
  if (!isObject(doc)) throw new Error('not a JSON object');
  if (typeof doc.namespace !== 'string' || !doc.namespace) throw new Error('no "namespace" name');
  for (const key of ['resource_type_associations', 'objects', 'tags'] as const) {
    if (doc[key] !== undefined && doc[key] !== null && !Array.isArray(doc[key])) throw new Error(`"${key}" is not a list`);
  }
  if (doc.properties !== undefined && doc.properties !== null && !isObject(doc.properties)) throw new Error('"properties" is not an object');
  return doc;
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

async function loadNamespace(r: MetadefRepository, doc: JsonObject, opts: LoadOptions): Promise<'created' | 'merged' | 'skipped'> {
  const values: NamespaceValues = {
    namespace: doc.namespace as string,
    display_name: text(doc.display_name),
    description: text(doc.description),
    visibility: text(doc.visibility),
    protected: typeof doc.protected === 'boolean' ? doc.protected : null,
    // Glance's loader gives unowned definitions to "admin".
    owner: text(doc.owner) ?? 'admin',
  };
  const preferNew = opts.preferNew === true;
  let ns = await r.namespace(values.namespace);
  if (ns && opts.overwrite) {
    await r.deleteNamespace(ns.id);
    ns = undefined;
  }
  let outcome: 'created' | 'merged';
  if (!ns) {
    ns = await r.addNamespace(values);
    outcome = 'created';
  } else if (!opts.merge) {
    return 'skipped';
  } else {
    if (preferNew) ns = await r.updateNamespace(ns.id, values);
    outcome = 'merged';
  }
  const id = ns.id;

  const associations = await r.associations(id);
  for (const a of (doc.resource_type_associations as unknown[] | null | undefined) ?? []) {
    if (!isObject(a) || typeof a.name !== 'string') continue;
    let type = await r.resourceType(a.name);
    if (!type) type = await r.ensureResourceType(a.name, true);
    else if (preferNew) await r.touchResourceType(type.id);
    const assoc = { prefix: text(a.prefix), properties_target: text(a.properties_target) };
    if (!associations.some((x) => x.resource_type_id === type.id)) await r.addAssociation(id, type.id, assoc);
    else if (preferNew) await r.updateAssociation(id, type.id, assoc);
  }

  for (const [name, schema] of Object.entries((doc.properties as JsonObject | null | undefined) ?? {})) {
    const found = await r.property(id, name);
    if (!found) await r.addProperty(id, name, schema);
    else if (preferNew) await r.updateProperty(found.id, name, schema);
  }

  for (const o of (doc.objects as unknown[] | null | undefined) ?? []) {
    if (!isObject(o) || typeof o.name !== 'string') continue;
    const values = {
      name: o.name,
      description: text(o.description),
      required: Array.isArray(o.required) ? o.required.filter((x): x is string => typeof x === 'string') : null,
      properties: isObject(o.properties) ? o.properties : {},
    };
    const found = await r.object(id, o.name);
    if (!found) await r.addObject(id, values);
    else if (preferNew) await r.updateObject(found.id, values);
  }

  for (const t of (doc.tags as unknown[] | null | undefined) ?? []) {
    if (!isObject(t) || typeof t.name !== 'string') continue;
    const found = await r.tag(id, t.name);
    if (!found) await r.addTag(id, t.name);
    else if (preferNew) await r.renameTag(found.id, t.name);
  }
  return outcome;
}

/** One line per outcome, for the command's output. */
export function describeReport(report: LoadReport): string[] {
  const lines = [
    `imago: metadefs: ${report.created.length} namespaces loaded, ${report.merged.length} merged, ${report.skipped.length} already present (skipped)`,
  ];
  for (const f of report.failed) lines.push(`imago: metadefs: ${basename(f.file)} not loaded: ${f.error}`);
  return lines;
}
