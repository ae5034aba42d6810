// Evaluates oslo.policy rules and builds the effective rule set the way
// oslo_policy.policy.Enforcer does: registered defaults (with their deprecated
// check strings), overridden by an operator's policy.yaml/policy.json, with
// [oslo_policy] enforce_new_defaults / enforce_scope and Glance's
// [DEFAULT] enforce_secure_rbac. Pure: no I/O; the operator's policy files and
// options are read by config.ts.

import { checkToString, parseRule, type Check, type ListRule } from './parser.js';

export type ScopeType = 'system' | 'domain' | 'project';

/**
 * Who is asking, as oslo.context's `to_policy_values()` gives it. keystonemiddleware
 * sets `domain_id` only for domain-scoped tokens and `system_scope` ("all") only for
 * system-scoped ones; the service token's roles arrive as `service_roles` (a
 * `role:service` check looks at `roles`, i.e. the user token, as in Glance).
 * Other keys may be added and used by generic checks (`user_domain_id:...`).
 */
export interface Credentials {
  readonly user_id?: string | null;
  readonly project_id?: string | null;
  readonly domain_id?: string | null;
  readonly system_scope?: string | null;
  readonly roles: readonly string[];
  /** Glance's RequestContext.is_admin; when absent it is computed from `context_is_admin`. */
  readonly is_admin?: boolean;
  readonly service_roles?: readonly string[];
  readonly service_user_id?: string | null;
  readonly service_project_id?: string | null;
  readonly [key: string]: unknown;
}

/** What is acted on: flat keys, substituted into `%(key)s`. `undefined` means "missing". */
export type Target = Readonly<Record<string, unknown>>;

/** A policy registered in code (oslo's RuleDefault / DocumentedRuleDefault). */
export interface RuleDefault {
  readonly name: string;
  readonly checkStr: string;
  readonly description?: string;
  /** "METHOD /path" of the API calls it protects (documentation only). */
  readonly operations?: readonly string[];
  readonly scopeTypes?: readonly ScopeType[];
  readonly deprecatedRule?: {
    /** Defaults to the rule's own name (every Glance rule keeps its name). */
    readonly name?: string;
    readonly checkStr: string;
    readonly since?: string;
  };
  readonly deprecatedForRemoval?: boolean;
  /** Release that introduced the rule, when it is newer than Zed (imago's note). */
  readonly addedIn?: string;
}

export interface EnforcerOptions {
  /** [oslo_policy] enforce_new_defaults: drop the deprecated check strings. */
  readonly enforceNewDefaults: boolean;
  /** [oslo_policy] enforce_scope: deny tokens whose scope is not in the rule's scope_types. */
  readonly enforceScope: boolean;
  /** Glance's [DEFAULT] enforce_secure_rbac: false keeps the legacy owner checks (see imageAuth.ts). */
  readonly enforceSecureRbac: boolean;
  /** [oslo_policy] policy_default_rule: evaluated for rule names that do not exist. */
  readonly defaultRule: string;
}

/**
 * The defaults of current Glance (2023.1 and later turned the secure RBAC personas,
 * new defaults and scope checks on). Zed's were false/false/false: an operator who
 * relies on those must set them in glance-api.conf.
 */
export const DEFAULT_ENFORCER_OPTIONS: EnforcerOptions = Object.freeze({
  enforceNewDefaults: true,
  enforceScope: true,
  enforceSecureRbac: true,
  defaultRule: 'default',
});

export type RuleSource =
  /** the registered default check string */
  | 'default'
  /** `(new) or (deprecated)`: enforce_new_defaults is off and nobody overrode the rule */
  | 'default-or-deprecated'
  /** the operator's policy file */
  | 'override'
  /** the operator overrode the rule's old (deprecated) name */
  | 'override-of-deprecated-name'
  /** added at run time (property protections in `policies` format) */
  | 'added';

export interface EffectiveRule {
  readonly name: string;
  /** The effective check as text (oslo's canonical form; "" for always). */
  readonly check: string;
  readonly source: RuleSource;
  readonly scopeTypes?: readonly ScopeType[];
  readonly registered: boolean;
}

export class PolicyFileError extends Error {}
export class DuplicatePolicyError extends Error {}

interface RuleEntry {
  readonly name: string;
  readonly check: Check;
  readonly source: RuleSource;
}

export interface EnforcerInit {
  readonly defaults: readonly RuleDefault[];
  /** rule name -> check string (or legacy list), as read from policy.yaml/json. */
  readonly overrides?: Readonly<Record<string, unknown>>;
  readonly options?: Partial<EnforcerOptions>;
  /** Receives scope mismatches that are only warned about (enforce_scope off). */
  readonly warn?: (message: string) => void;
}

export class PolicyEnforcer {
  readonly options: EnforcerOptions;
  /** Problems found while loading (unparsable overrides, undefined or cyclic references). */
  readonly warnings: string[] = [];
  private readonly registered = new Map<string, RuleDefault>();
  private readonly rules = new Map<string, RuleEntry>();
  private readonly warn: (message: string) => void;
  private readonly lookupRule = (name: string) => this.lookup(name);

  constructor(init: EnforcerInit) {
    this.options = { ...DEFAULT_ENFORCER_OPTIONS, ...stripUndefined(init.options ?? {}) };
    this.warn = init.warn ?? (() => {});
    for (const d of init.defaults) {
      if (this.registered.has(d.name)) throw new DuplicatePolicyError(`policy "${d.name}" is registered twice`);
      this.registered.set(d.name, d);
    }

    const fileRules = new Map<string, Check>();
    for (const [name, raw] of Object.entries(init.overrides ?? {})) {
      const problems: string[] = [];
      const check = parseRule(asRuleValue(name, raw), problems);
      for (const p of problems) this.warnings.push(`policy file rule "${name}": ${p}; it will never allow`);
      fileRules.set(name, check);
      this.rules.set(name, { name, check, source: 'override' });
    }
    for (const d of this.registered.values()) {
      if (!this.rules.has(d.name)) this.rules.set(d.name, this.effectiveDefault(d, fileRules));
    }
    this.checkReferences();
  }

  /**
   * Does `creds` pass `rule` on `target`? Unknown rule names are evaluated with the
   * default rule (oslo's Rules.__missing__); a registered rule whose scope_types do
   * not include the token's scope is denied when enforce_scope is on.
   */
  check(rule: string, target: Target, creds: Credentials): boolean {
    const registered = this.registered.get(rule);
    if (registered?.scopeTypes && !this.scopeAllows(rule, registered.scopeTypes, creds)) return false;
    const entry = this.lookup(rule);
    if (!entry) return false;
    const active = new Set<string>([entry.name]);
    return evaluate(entry.check, target, policyValues(creds), this.lookupRule, active);
  }

  /** Glance's RequestContext.is_admin: given, or the `context_is_admin` rule on the credentials. */
  isAdmin(creds: Credentials): boolean {
    if (creds.is_admin === true) return true;
    return this.check('context_is_admin', creds, creds);
  }

  /** Adds or replaces rules after loading (oslo's set_rules(overwrite=False)); used by property protections. */
  addRules(rules: Readonly<Record<string, string>>): void {
    for (const [name, text] of Object.entries(rules)) {
      const problems: string[] = [];
      const check = parseRule(text, problems);
      for (const p of problems) this.warnings.push(`rule "${name}": ${p}; it will never allow`);
      this.rules.set(name, { name, check, source: 'added' });
    }
  }

  hasRule(name: string): boolean {
    return this.rules.has(name);
  }

  isRegistered(name: string): boolean {
    return this.registered.has(name);
  }

  /** Every rule in force, registered ones first in registration order, then the others by name. */
  effectiveRules(): EffectiveRule[] {
    const names = [
      ...this.registered.keys(),
      ...[...this.rules.keys()].filter((n) => !this.registered.has(n)).sort(),
    ];
    return names.map((name) => {
      const entry = this.rules.get(name)!;
      const scopeTypes = this.registered.get(name)?.scopeTypes;
      return {
        name,
        check: entry.check.kind === 'true' ? '' : checkToString(entry.check),
        source: entry.source,
        ...(scopeTypes ? { scopeTypes } : {}),
        registered: this.registered.has(name),
      };
    });
  }

  /** oslo's _handle_deprecated_rule. */
  private effectiveDefault(d: RuleDefault, fileRules: ReadonlyMap<string, Check>): RuleEntry {
    const name = d.name;
    const check = parseTrusted(name, d.checkStr);
    const dep = d.deprecatedRule;
    if (!dep) return { name, check, source: 'default' };
    const depName = dep.name ?? d.name;
    const renamedOverride = depName !== d.name ? fileRules.get(depName) : undefined;
    // An override of the old name keeps working, unless it merely points at the new name.
    if (renamedOverride && checkToString(renamedOverride) !== `rule:${d.name}`) {
      return { name, check: renamedOverride, source: 'override-of-deprecated-name' };
    }
    if (!this.options.enforceNewDefaults && dep.checkStr !== d.checkStr) {
      return { name, check: { kind: 'or', checks: [check, parseTrusted(name, dep.checkStr)] }, source: 'default-or-deprecated' };
    }
    return { name, check, source: 'default' };
  }

  private lookup(name: string): RuleEntry | undefined {
    return this.rules.get(name) ?? this.rules.get(this.options.defaultRule);
  }

  /** oslo's _enforce_scope: system beats domain beats project. */
  private scopeAllows(rule: string, scopeTypes: readonly ScopeType[], creds: Credentials): boolean {
    const scope: ScopeType = creds['system'] || creds.system_scope ? 'system' : creds.domain_id ? 'domain' : 'project';
    if (scopeTypes.includes(scope)) return true;
    if (this.options.enforceScope) return false;
    this.warn(`Policy ${rule} failed scope check: the token is ${scope} scoped but the policy requires ${scopeTypes.join(', ')} scope`);
    return true;
  }

  /** oslo's check_rules: references to undefined rules and cycles are reported, not fatal. */
  private checkReferences(): void {
    const undefinedRefs: string[] = [];
    const cyclic: string[] = [];
    for (const [name, entry] of this.rules) {
      if (referencesUndefined(entry.check, this.rules)) undefinedRefs.push(name);
      if (hasCycle(entry.check, this.rules, new Set())) cyclic.push(name);
    }
    if (undefinedRefs.length) this.warnings.push(`policies ${undefinedRefs.join(', ')} reference a rule that is not defined`);
    if (cyclic.length) this.warnings.push(`policies ${cyclic.join(', ')} are part of a cyclical reference`);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function parseTrusted(name: string, text: string): Check {
  const problems: string[] = [];
  const check = parseRule(text, problems);
  if (problems.length) throw new Error(`registered policy "${name}" does not parse: ${problems.join('; ')}`);
  return check;
}

function asRuleValue(name: string, raw: unknown): string | ListRule | null {
  if (raw === null || typeof raw === 'string' || Array.isArray(raw)) return raw as string | ListRule | null;
  throw new PolicyFileError(`policy rule "${name}": ${JSON.stringify(raw)} is not a check string`);
}

/**
 * The credentials as oslo sees them: Glance's is_admin is not among oslo.context's
 * policy values (an old `is_admin:True` check never passes in Glance), and
 * system_scope is copied to "system" so that old `system:...` checks keep working.
 */
function policyValues(creds: Credentials): Credentials {
  const { is_admin: _isAdmin, ...values } = creds;
  return creds.system_scope ? { ...values, system: creds.system_scope } : values;
}

function referencesUndefined(check: Check, rules: ReadonlyMap<string, RuleEntry>): boolean {
  if (check.kind === 'rule') return !rules.has(check.match);
  if (check.kind === 'and' || check.kind === 'or') return check.checks.some((c) => referencesUndefined(c, rules));
  return false;
}

function hasCycle(check: Check, rules: ReadonlyMap<string, RuleEntry>, seen: Set<string>): boolean {
  if (check.kind === 'rule') {
    if (seen.has(check.match)) return true;
    seen.add(check.match);
    const target = rules.get(check.match);
    return target ? hasCycle(target.check, rules, seen) : false;
  }
  if (check.kind === 'and' || check.kind === 'or') return check.checks.some((c) => hasCycle(c, rules, new Set(seen)));
  return false;
}

// ---- evaluation (oslo_policy/_checks.py) ----

type Lookup = (name: string) => { readonly name: string; readonly check: Check } | undefined;

/**
 * Evaluates a parsed check. `active` holds the rules being evaluated: a rule that
 * refers back to itself (a loop oslo would only end with RecursionError) is false.
 */
export function evaluate(check: Check, target: Target, creds: Credentials, lookup: Lookup, active = new Set<string>()): boolean {
  switch (check.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'not':
      return !evaluate(check.check, target, creds, lookup, active);
    case 'and':
      for (const c of check.checks) if (!evaluate(c, target, creds, lookup, active)) return false;
      return true;
    case 'or':
      for (const c of check.checks) if (evaluate(c, target, creds, lookup, active)) return true;
      return false;
    case 'rule': {
      const entry = lookup(check.match);
      if (!entry || active.has(entry.name)) return false;
      active.add(entry.name);
      try {
        return evaluate(entry.check, target, creds, lookup, active);
      } finally {
        active.delete(entry.name);
      }
    }
    case 'role': {
      const match = substitute(check.match, target);
      if (match === undefined || !Array.isArray(creds.roles)) return false;
      const wanted = match.toLowerCase();
      return creds.roles.some((r) => String(r).toLowerCase() === wanted);
    }
    case 'generic': {
      const match = substitute(check.match, target);
      if (match === undefined) return false;
      const literal = literalOf(check.key);
      if (literal !== undefined) return match === literal;
      return findInCreds(creds, check.key.split('.'), match);
    }
  }
}

const literals = new Map<string, string | undefined>();

function literalOf(key: string): string | undefined {
  if (!literals.has(key)) literals.set(key, pythonLiteral(key));
  return literals.get(key);
}

/** oslo's GenericCheck._find_in_dict: a dotted path; lists match when any element does. */
function findInCreds(value: unknown, path: readonly string[], match: string): boolean {
  if (path.length === 0) return match === pyStr(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const [key, ...rest] = path;
  if (!Object.hasOwn(value, key!)) return false;
  const next = (value as Record<string, unknown>)[key!];
  if (next === undefined) return false;
  if (Array.isArray(next)) return next.some((v) => findInCreds(v, rest, match));
  return findInCreds(next, rest, match);
}

/**
 * Python's `match % target` for the `%(key)s` mapping form. Returns undefined where
 * oslo would get an exception (a missing key, or a format Python rejects): the check is false.
 */
export function substitute(template: string, target: Target): string | undefined {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    if (template[i + 1] === '%') {
      out += '%';
      i++;
      continue;
    }
    if (template[i + 1] !== '(') return undefined; // "%s" with a mapping, or a stray "%"
    let depth = 1;
    let j = i + 2;
    for (; j < template.length && depth > 0; j++) {
      if (template[j] === '(') depth++;
      else if (template[j] === ')') depth--;
    }
    if (depth > 0) return undefined;
    const key = template.slice(i + 2, j - 1);
    const spec = /^[#0\- +]*(\d*)(?:\.\d+)?([sdir])/.exec(template.slice(j));
    if (!spec) return undefined;
    if (!Object.hasOwn(target, key) || target[key] === undefined) return undefined;
    const value = target[key];
    let text: string;
    if (spec[2] === 's') text = pyStr(value);
    else if (spec[2] === 'r') text = pyRepr(value);
    else if (typeof value === 'number' || typeof value === 'boolean') text = String(Math.trunc(Number(value)));
    else return undefined;
    out += text.padStart(Number(spec[1] || 0));
    i = j + spec[0].length - 1;
  }
  return out;
}

/** `str(value)` as Python prints it, for values that came from JSON-like data. */
export function pyStr(value: unknown): string {
  if (typeof value === 'string') return value;
  return pyRepr(value);
}

function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isInteger(value) && !Object.is(value, -0) ? String(value) : pyFloat(value);
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
  }
  return String(value);
}

function pyFloat(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  const s = String(n);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/**
 * The value of `ast.literal_eval(key)` as `str()` prints it, or undefined when the
 * key is not a literal (and so names a credential): `'public'`, `"x"`, `True`, `1`.
 */
export function pythonLiteral(key: string): string | undefined {
  const quoted = /^(['"])((?:(?!\1)[^\\]|\\.)*)\1$/s.exec(key);
  if (quoted) return quoted[2]!.replace(/\\(.)/gs, (_m, ch: string) => ({ n: '\n', t: '\t', r: '\r', '0': '\0' })[ch] ?? ch);
  if (key === 'True' || key === 'False' || key === 'None') return key;
  if (/^[-+]?(0|[1-9]\d*)$/.test(key)) return BigInt(key).toString();
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)$/.test(key)) return pyFloat(Number(key));
  return undefined;
}
