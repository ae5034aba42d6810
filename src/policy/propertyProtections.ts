// Glance's property protections ([DEFAULT] property_protection_file with
// property_protection_rule_format = roles | policies; glance/common/property_utils.py).
//
// The file is INI: each section name is a regular expression over property names,
// each section must set create, read, update and delete. In `roles` format a value is
// a comma separated list of roles ("@" anyone, "!" nobody); in `policies` format it
// is one policy rule name, registered in the enforcer as "<section>:<op>" =
// "rule:<name>". The first section (in file order) whose regex is found anywhere in
// the property name decides; a property no section matches is denied.
// An invalid file is an error at load, as it stops glance-api from starting.

import { readFileSync } from 'node:fs';
import type { Credentials, PolicyEnforcer } from './enforcer.js';

export type PropertyOperation = 'create' | 'read' | 'update' | 'delete';
export type PropertyRuleFormat = 'roles' | 'policies';

const OPERATIONS: readonly PropertyOperation[] = ['create', 'read', 'update', 'delete'];

export class PropertyProtectionError extends Error {}

interface ProtectionRule {
  readonly section: string;
  readonly pattern: RegExp;
  /** roles (lowercased) or a single policy name; empty: nobody. */
  readonly permissions: Readonly<Record<PropertyOperation, readonly string[]>>;
}

export class PropertyProtections {
  private constructor(
    readonly format: PropertyRuleFormat,
    private readonly rules: readonly ProtectionRule[],
    private readonly enforcer: PolicyEnforcer | undefined,
    /** Operations left empty in the file (nobody may do them), as Glance warns. */
    readonly warnings: readonly string[],
  ) {}

  /** Reads and validates a property protection file; `policies` format needs the enforcer. */
  static load(path: string, format: PropertyRuleFormat, enforcer?: PolicyEnforcer): PropertyProtections {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new PropertyProtectionError(`Couldn't find property protection file ${path}: ${(e as Error).message}`);
    }
    return PropertyProtections.parse(text, format, enforcer, path);
  }

  static parse(text: string, format: PropertyRuleFormat, enforcer?: PolicyEnforcer, source = '<string>'): PropertyProtections {
    if (format !== 'roles' && format !== 'policies') {
      throw new PropertyProtectionError(`Invalid value '${String(format)}' for 'property_protection_rule_format'. The permitted values are 'roles' and 'policies'`);
    }
    if (format === 'policies' && !enforcer) throw new PropertyProtectionError('the policies format needs a policy enforcer');
    const rules: ProtectionRule[] = [];
    const warnings: string[] = [];
    const policyRules: Record<string, string> = {};
    for (const [section, options] of parseConfigParserIni(text, source)) {
      const pattern = compilePythonRegex(section, source);
      const permissions = {} as Record<PropertyOperation, readonly string[]>;
      for (const op of OPERATIONS) {
        const value = options.get(op);
        if (value === undefined) throw new PropertyProtectionError(`${source}: [${section}] does not set "${op}"`);
        if (value === '') {
          warnings.push(`Property protection on operation ${op} for rule ${section} is not found. No role will be allowed to perform this operation.`);
          permissions[op] = [];
        } else if (format === 'policies') {
          if (value.includes(',')) {
            throw new PropertyProtectionError(`${source}: [${section}] ${op}: multiple policies '${value}' not allowed for a given operation; combine them in the policy file`);
          }
          policyRules[`${section}:${op}`] = `rule:${value}`;
          permissions[op] = [value];
        } else {
          const roles = value.split(',').map((r) => r.trim());
          if (roles.includes('@') && roles.includes('!')) {
            throw new PropertyProtectionError(`${source}: malformed property protection rule in [${section}] ${op}=${value}: '@' and '!' are mutually exclusive`);
          }
          permissions[op] = roles.map((r) => r.toLowerCase());
        }
      }
      rules.push({ section, pattern, permissions });
    }
    if (format === 'policies') enforcer!.addRules(policyRules);
    return new PropertyProtections(format, rules, enforcer, warnings);
  }

  /**
   * May `creds` perform `op` on the property `name`? (check_property_rules)
   * The service token's roles count as the user's. In `roles` format the file's
   * roles are lowercased but the token's are compared as they are, as in Glance.
   */
  check(name: string, op: PropertyOperation, creds: Credentials): boolean {
    if (this.rules.length === 0) return true;
    if (!OPERATIONS.includes(op)) return false;
    const rule = this.rules.find((r) => r.pattern.test(name));
    if (!rule) return false;
    const allowed = rule.permissions[op];
    if (allowed.length === 0) return false;
    if (allowed.includes('!')) return false;
    if (allowed.includes('@')) return true;
    const roles = [...creds.roles, ...(creds.service_roles ?? [])];
    if (this.format === 'policies') {
      return this.enforcer!.check(`${rule.section}:${op}`, {}, { ...creds, roles });
    }
    return roles.some((r) => allowed.includes(r));
  }

  /** The properties of `properties` the caller may read (ExtraPropertiesProxy drops the others). */
  readable<T>(properties: Readonly<Record<string, T>>, creds: Credentials): Record<string, T> {
    return Object.fromEntries(Object.entries(properties).filter(([k]) => this.check(k, 'read', creds)));
  }
}

/**
 * The parts of Python's configparser that matter here: sections in file order,
 * option names lowercased, full-line # and ; comments, indented continuation lines,
 * [DEFAULT] values inherited by every section, duplicates rejected (strict mode).
 */
function parseConfigParserIni(text: string, source: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  const defaults = new Map<string, string>();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    const where = `${source}:${i + 1}`;
    if (line === '' || line.startsWith('#') || line.startsWith(';')) {
      if (line === '') lastKey = undefined;
      continue;
    }
    if (/^\s/.test(raw) && current && lastKey !== undefined) {
      current.set(lastKey, `${current.get(lastKey)!}\n${line}`.trim());
      continue;
    }
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      const name = header[1]!;
      if (name === 'DEFAULT') current = defaults;
      else {
        if (sections.has(name)) throw new PropertyProtectionError(`${where}: section [${name}] appears twice`);
        current = new Map();
        sections.set(name, current);
      }
      lastKey = undefined;
      continue;
    }
    const option = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!option) throw new PropertyProtectionError(`${where}: expected "option = value"`);
    if (!current) throw new PropertyProtectionError(`${where}: option outside of a section`);
    const key = option[1]!.toLowerCase();
    if (current.has(key)) throw new PropertyProtectionError(`${where}: option "${key}" appears twice in a section`);
    current.set(key, option[2]!.trim());
    lastKey = key;
  }
  for (const options of sections.values()) {
    for (const [k, v] of defaults) if (!options.has(k)) options.set(k, v);
  }
  return sections;
}

/**
 * Compiles a section name as Python's re would. Python-only syntax that JavaScript
 * reads differently is translated: leading inline flags (?i) (?s) (?m) (?x is not
 * supported), named groups (?P<name>...) and back-references (?P=name).
 */
function compilePythonRegex(expr: string, source: string): RegExp {
  let body = expr;
  let flags = '';
  const inline = /^\(\?([aiLmsux]+)\)/.exec(body);
  if (inline) {
    for (const f of inline[1]!) {
      if (f === 'i' || f === 'm' || f === 's') flags += f;
      else if (f === 'x' || f === 'L') throw new PropertyProtectionError(`${source}: [${expr}]: the (?${f}) flag is not supported`);
    }
    body = body.slice(inline[0].length);
  }
  body = body.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>');
  try {
    return new RegExp(body, flags);
  } catch (e) {
    throw new PropertyProtectionError(`${source}: encountered a malformed property protection rule [${expr}]: ${(e as Error).message}`);
  }
}
