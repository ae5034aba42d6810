// The operator's policy configuration, as glance-api reads it: the
// [oslo_policy] and [DEFAULT] options of glance-api.conf, and the policy files
// they name (policy_file, then each policy_dirs folder), whose rules override
// the registered defaults in the enforcer.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { IniSections } from '../config/ini.js';
import { OptionReader } from '../config/options.js';
import { DEFAULT_ENFORCER_OPTIONS, PolicyFileError, type EnforcerOptions } from './enforcer.js';

/**
 * Reads one policy file, JSON or YAML (oslo tries JSON first; YAML 1.1 as PyYAML reads it).
 * An empty file means no rules.
 */
export function readPolicyFile(path: string): Record<string, unknown> {
  const text = readFileSync(path, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    try {
      parsed = parseYaml(text, { version: '1.1', uniqueKeys: false });
    } catch (e) {
      throw new PolicyFileError(`${path}: not valid JSON or YAML: ${(e as Error).message}`);
    }
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new PolicyFileError(`${path}: a policy file must map rule names to check strings`);
  }
  return parsed as Record<string, unknown>;
}

export interface PolicyFileLocations {
  /** [oslo_policy] policy_file */
  readonly policyFile: string;
  /** [oslo_policy] policy_dirs */
  readonly policyDirs: readonly string[];
}

/**
 * The operator's overrides: policy_file, then every file of each policy_dirs folder
 * in name order (later files win rule by rule). Relative paths are looked up in
 * `configDir`, then /etc/glance (a simplification of oslo.config's find_file).
 * A policy file that does not exist means "defaults only", as in oslo.
 */
export function loadPolicyOverrides(where: PolicyFileLocations, configDir?: string): Record<string, unknown> {
  const rules: Record<string, unknown> = {};
  const file = findPath(where.policyFile, configDir);
  if (file && statSync(file).isFile()) Object.assign(rules, readPolicyFile(file));
  for (const dir of where.policyDirs) {
    const found = findPath(dir, configDir);
    if (!found || !statSync(found).isDirectory()) continue;
    for (const name of readdirSync(found).filter((n) => !n.startsWith('.')).sort()) {
      const path = join(found, name);
      if (statSync(path).isFile()) Object.assign(rules, readPolicyFile(path));
    }
  }
  return rules;
}

function findPath(path: string, configDir?: string): string | undefined {
  if (isAbsolute(path)) return existsSync(path) ? path : undefined;
  for (const dir of [configDir, '/etc/glance'].filter((d): d is string => d !== undefined)) {
    const candidate = resolve(dir, path);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface PolicyConfig extends PolicyFileLocations {
  readonly enforcer: EnforcerOptions;
  /** [DEFAULT] property_protection_file (unset: no property protections) */
  readonly propertyProtectionFile: string | undefined;
  /** [DEFAULT] property_protection_rule_format */
  readonly propertyProtectionRuleFormat: 'roles' | 'policies';
}

/** The policy-related options of glance-api.conf. */
export function readPolicyConfig(sections: IniSections): PolicyConfig {
  const oslo = new OptionReader(sections, 'oslo_policy');
  const glance = new OptionReader(sections, 'DEFAULT');
  const format = glance.str('property_protection_rule_format', 'roles').toLowerCase();
  if (format !== 'roles' && format !== 'policies') {
    throw new PolicyFileError(`[DEFAULT] property_protection_rule_format: "${format}" is not roles or policies`);
  }
  const dirs = oslo.multi('policy_dirs');
  return {
    policyFile: oslo.str('policy_file', 'policy.yaml'),
    policyDirs: dirs.length ? dirs : ['policy.d'],
    enforcer: {
      enforceNewDefaults: oslo.bool('enforce_new_defaults', DEFAULT_ENFORCER_OPTIONS.enforceNewDefaults),
      enforceScope: oslo.bool('enforce_scope', DEFAULT_ENFORCER_OPTIONS.enforceScope),
      enforceSecureRbac: glance.bool('enforce_secure_rbac', DEFAULT_ENFORCER_OPTIONS.enforceSecureRbac),
      defaultRule: oslo.str('policy_default_rule', DEFAULT_ENFORCER_OPTIONS.defaultRule),
    },
    propertyProtectionFile: glance.str('property_protection_file') || undefined,
    propertyProtectionRuleFormat: format,
  };
}
