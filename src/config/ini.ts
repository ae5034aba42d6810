// Reads oslo.config-style INI files (glance-api.conf, glance-swift.conf) as they
// are: `#`/`;` comments, `key = value` or `key: value`, indented continuation
// lines, surrounding quotes stripped, and repeated keys kept in order because
// MultiStrOpt options (filesystem_store_datadirs, vmware_datastores) use them.

export type IniSections = Map<string, Map<string, string[]>>;

export class IniSyntaxError extends Error {}

export function parseIni(text: string, source = '<string>'): IniSections {
  const sections: IniSections = new Map();
  let current: Map<string, string[]> | undefined;
  let lastKey: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (line === '' ) { lastKey = undefined; continue; }
    if (line.startsWith('#') || line.startsWith(';')) continue;
    if (/^\s/.test(raw) && lastKey !== undefined && current) {
      // Continuation of the previous value.
      const values = current.get(lastKey)!;
      values[values.length - 1] += '\n' + line;
      continue;
    }
    if (line.startsWith('[')) {
      if (!line.endsWith(']')) throw new IniSyntaxError(`${source}:${i + 1}: bad section header`);
      const name = line.slice(1, -1).trim();
      if (!name) throw new IniSyntaxError(`${source}:${i + 1}: empty section name`);
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      lastKey = undefined;
      continue;
    }
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new IniSyntaxError(`${source}:${i + 1}: expected "key = value"`);
    if (!current) throw new IniSyntaxError(`${source}:${i + 1}: option outside of a section`);
    const key = m[1]!.trim();
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    const values = current.get(key) ?? [];
    values.push(value);
    current.set(key, values);
    lastKey = key;
  }
  return sections;
}

/** Later files win key by key, as oslo.config does with several --config-file. */
export function mergeIni(into: IniSections, from: IniSections): IniSections {
  for (const [section, opts] of from) {
    const target = into.get(section) ?? new Map<string, string[]>();
    for (const [k, v] of opts) target.set(k, [...v]);
    into.set(section, target);
  }
  return into;
}
