import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DuplicatePolicyError,
  PolicyEnforcer,
  pythonLiteral,
  substitute,
  type Credentials,
  type RuleDefault,
} from '../../src/policy/enforcer.js';
import { readPolicyConfig } from '../../src/policy/config.js';
import { GLANCE_POLICY_DEFAULTS, createGlanceEnforcer } from '../../src/policy/glanceDefaults.js';
import { parseIni } from '../../src/config/ini.js';
import { tempDir } from '../helpers/cleanup.js';

const alice: Credentials = { user_id: 'alice', project_id: 'p1', roles: ['member', 'reader'] };

function only(overrides: Record<string, unknown>, defaults: RuleDefault[] = []) {
  return new PolicyEnforcer({ defaults, overrides });
}

function tmp(): string {
  return tempDir('imago-policy-');
}

test('substitution: %(key)s from the target, missing keys make the check false', () => {
  assert.equal(substitute('%(owner)s', { owner: 'p1' }), 'p1');
  assert.equal(substitute('x-%(a)s-%(b)s', { a: 1, b: true }), 'x-1-True');
  assert.equal(substitute('%(a)s', { a: null }), 'None');
  assert.equal(substitute('%(a)s', { a: ['x', 'y'] }), "['x', 'y']");
  assert.equal(substitute('100%%', {}), '100%');
  assert.equal(substitute('%(missing)s', {}), undefined);
  assert.equal(substitute('%s', { a: 1 }), undefined);
  assert.equal(substitute('plain', {}), 'plain');

  const e = only({ own: 'project_id:%(project_id)s', anyone: '@' });
  assert.equal(e.check('own', { project_id: 'p1' }, alice), true);
  assert.equal(e.check('own', { project_id: 'p2' }, alice), false);
  assert.equal(e.check('own', {}, alice), false);
});

test('literals: quoted strings, True/False/None and numbers compare with the substituted value', () => {
  assert.equal(pythonLiteral("'public'"), 'public');
  assert.equal(pythonLiteral('"a b"'), 'a b');
  assert.equal(pythonLiteral('True'), 'True');
  assert.equal(pythonLiteral('+7'), '7');
  assert.equal(pythonLiteral('1.50'), '1.5');
  assert.equal(pythonLiteral('project_id'), undefined);
  assert.equal(pythonLiteral('a.b'), undefined);

  const e = only({
    public: "'public':%(visibility)s",
    enabled: 'True:%(enabled)s',
    none: 'None:%(member)s',
    one: '1:%(n)s',
  });
  assert.equal(e.check('public', { visibility: 'public' }, alice), true);
  assert.equal(e.check('public', { visibility: 'private' }, alice), false);
  assert.equal(e.check('enabled', { enabled: true }, alice), true);
  assert.equal(e.check('enabled', { enabled: 'true' }, alice), false);
  assert.equal(e.check('none', { member: null }, alice), true);
  assert.equal(e.check('one', { n: 1 }, alice), true);
});

test('generic checks: nested credential keys with dots, lists match any element', () => {
  const creds: Credentials = { ...alice, token: { user: { domain: { id: 'd1' } } }, groups: [{ id: 'g1' }, { id: 'g2' }] };
  const e = only({
    domain: 'token.user.domain.id:%(domain)s',
    group: 'groups.id:g2',
    roles: 'roles:member',
    user: 'user_id:alice',
  });
  assert.equal(e.check('domain', { domain: 'd1' }, creds), true);
  assert.equal(e.check('domain', { domain: 'd2' }, creds), false);
  assert.equal(e.check('group', {}, creds), true);
  assert.equal(e.check('roles', {}, creds), true);
  assert.equal(e.check('user', {}, creds), true);
  assert.equal(e.check('domain', { domain: 'd1' }, alice), false);
});

test('roles: case-insensitive, and the match may use target substitution', () => {
  const e = only({ admin: 'role:ADMIN', dyn: 'role:%(needed)s' });
  assert.equal(e.check('admin', {}, { roles: ['Admin'] }), true);
  assert.equal(e.check('admin', {}, { roles: ['member'] }), false);
  assert.equal(e.check('dyn', { needed: 'Member' }, alice), true);
  assert.equal(e.check('dyn', {}, alice), false);
});

test('not / and / or evaluate as booleans', () => {
  const e = only({
    a: 'role:member and not role:admin',
    b: 'role:admin or (role:member and project_id:%(project_id)s)',
    c: 'not (role:reader or role:member)',
  });
  assert.equal(e.check('a', {}, alice), true);
  assert.equal(e.check('a', {}, { roles: ['member', 'admin'] }), false);
  assert.equal(e.check('b', { project_id: 'p1' }, alice), true);
  assert.equal(e.check('b', { project_id: 'p2' }, alice), false);
  assert.equal(e.check('b', { project_id: 'p2' }, { roles: ['admin'] }), true);
  assert.equal(e.check('c', {}, alice), false);
  assert.equal(e.check('c', {}, { roles: [] }), true);
});

test('rule references recurse; loops are false instead of endless, and reported', () => {
  const e = only({
    admin: 'role:admin',
    owner: 'project_id:%(project_id)s',
    admin_or_owner: 'rule:admin or rule:owner',
    twice: 'rule:owner and rule:owner',
    loop_a: 'rule:loop_b or role:reader',
    loop_b: 'rule:loop_a',
    self: 'rule:self',
  });
  assert.equal(e.check('admin_or_owner', { project_id: 'p1' }, alice), true);
  assert.equal(e.check('admin_or_owner', { project_id: 'p2' }, alice), false);
  assert.equal(e.check('twice', { project_id: 'p1' }, alice), true);
  assert.equal(e.check('self', {}, alice), false);
  assert.equal(e.check('loop_b', {}, alice), true); // loop_b -> loop_a -> (loop_b: false) or role:reader
  assert.equal(e.check('loop_b', {}, { roles: [] }), false);
  assert.ok(e.warnings.some((w) => /cyclical/.test(w) && /loop_a/.test(w) && /self/.test(w)));
});

test('unknown rules fall back to the default rule; without one they deny', () => {
  const withDefault = only({ default: 'role:admin', refers: 'rule:nowhere' });
  assert.equal(withDefault.check('no_such_rule', {}, { roles: ['admin'] }), true);
  assert.equal(withDefault.check('no_such_rule', {}, alice), false);
  assert.equal(withDefault.check('refers', {}, { roles: ['admin'] }), true);
  assert.ok(withDefault.warnings.some((w) => /refers/.test(w) && /not defined/.test(w)));
  const none = only({ some: '@' });
  assert.equal(none.check('no_such_rule', {}, { roles: ['admin'] }), false);
  const custom = new PolicyEnforcer({ defaults: [], overrides: { fallback: '@' }, options: { defaultRule: 'fallback' } });
  assert.equal(custom.check('no_such_rule', {}, alice), true);
});

const DEFAULTS: RuleDefault[] = [
  { name: 'default', checkStr: '', deprecatedRule: { checkStr: 'role:admin' } },
  { name: 'get_thing', checkStr: 'role:reader and project_id:%(project_id)s', deprecatedRule: { checkStr: 'rule:default' }, scopeTypes: ['project'] },
  { name: 'edit_thing', checkStr: 'role:member', deprecatedRule: { checkStr: 'role:member' } },
  { name: 'new_name', checkStr: 'role:admin', deprecatedRule: { name: 'old_name', checkStr: 'role:member' } },
  { name: 'system_thing', checkStr: 'role:admin', scopeTypes: ['system'] },
];

test('legacy defaults: new OR deprecated unless enforce_new_defaults; overrides always win', () => {
  const legacy = new PolicyEnforcer({ defaults: DEFAULTS, options: { enforceNewDefaults: false, enforceScope: false } });
  const modern = new PolicyEnforcer({ defaults: DEFAULTS, options: { enforceNewDefaults: true, enforceScope: false } });
  const stranger: Credentials = { project_id: 'p9', roles: [] };
  // default: '' or role:admin -> always; get_thing: (reader and own) or rule:default -> always
  assert.equal(legacy.check('get_thing', { project_id: 'p1' }, stranger), true);
  assert.equal(modern.check('get_thing', { project_id: 'p1' }, stranger), false);
  assert.equal(modern.check('get_thing', { project_id: 'p1' }, alice), true);
  const rule = (e: PolicyEnforcer, n: string) => e.effectiveRules().find((r) => r.name === n)!;
  assert.deepEqual(
    { check: rule(legacy, 'get_thing').check, source: rule(legacy, 'get_thing').source },
    { check: '((role:reader and project_id:%(project_id)s) or rule:default)', source: 'default-or-deprecated' },
  );
  // same check string in both: nothing to OR
  assert.equal(rule(legacy, 'edit_thing').source, 'default');
  assert.equal(rule(modern, 'get_thing').check, '(role:reader and project_id:%(project_id)s)');
  assert.equal(rule(modern, 'default').check, '');

  const overridden = new PolicyEnforcer({ defaults: DEFAULTS, overrides: { get_thing: 'role:auditor' }, options: { enforceNewDefaults: false } });
  assert.equal(overridden.check('get_thing', { project_id: 'p1' }, stranger), false);
  assert.equal(overridden.check('get_thing', {}, { roles: ['auditor'] }), true);
  assert.equal(rule(overridden, 'get_thing').source, 'override');
});

test('an override of a deprecated (old) rule name carries over to the new name', () => {
  const e = new PolicyEnforcer({ defaults: DEFAULTS, overrides: { old_name: 'role:operator' }, options: { enforceNewDefaults: true } });
  assert.equal(e.check('new_name', {}, { roles: ['operator'] }), true);
  assert.equal(e.check('new_name', {}, { roles: ['admin'] }), false);
  // pointing the old name at the new one keeps the new default
  const e2 = new PolicyEnforcer({ defaults: DEFAULTS, overrides: { old_name: 'rule:new_name' }, options: { enforceNewDefaults: true } });
  assert.equal(e2.check('new_name', {}, { roles: ['admin'] }), true);
});

test('scope: system/domain/project tokens against scope_types, denied only with enforce_scope', () => {
  const warnings: string[] = [];
  const lax = new PolicyEnforcer({ defaults: DEFAULTS, options: { enforceScope: false }, warn: (m) => warnings.push(m) });
  const strict = new PolicyEnforcer({ defaults: DEFAULTS, options: { enforceScope: true } });
  const systemAdmin: Credentials = { user_id: 'root', system_scope: 'all', roles: ['admin', 'reader'] };
  const domainAdmin: Credentials = { user_id: 'dom', domain_id: 'd1', roles: ['admin', 'reader'] };
  const projectAdmin: Credentials = { user_id: 'adm', project_id: 'p1', roles: ['admin', 'reader'] };
  assert.equal(strict.check('system_thing', {}, systemAdmin), true);
  assert.equal(strict.check('system_thing', {}, projectAdmin), false);
  assert.equal(strict.check('system_thing', {}, domainAdmin), false);
  assert.equal(strict.check('get_thing', { project_id: 'p1' }, projectAdmin), true);
  assert.equal(strict.check('get_thing', { project_id: 'p1' }, { ...systemAdmin, project_id: 'p1' }), false);
  assert.equal(lax.check('system_thing', {}, projectAdmin), true);
  assert.match(warnings[0]!, /system_thing failed scope check.*project scoped/);
  // unregistered rules have no scope to check
  assert.equal(strict.check('no_such_rule', {}, systemAdmin), true);
  // old policy files may test "system:all"
  const alias = only({ sys: 'system:all' });
  assert.equal(alias.check('sys', {}, systemAdmin), true);
});

test('is_admin is not a policy value, as in Glance; isAdmin() uses context_is_admin', () => {
  const e = only({ context_is_admin: 'role:admin', legacy: 'is_admin:True' });
  assert.equal(e.check('legacy', {}, { roles: [], is_admin: true }), false);
  assert.equal(e.isAdmin({ roles: ['admin'] }), true);
  assert.equal(e.isAdmin({ roles: ['member'] }), false);
  assert.equal(e.isAdmin({ roles: [], is_admin: true }), true);
});

test('effective rules list every Glance rule with its source and scope', () => {
  const e = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, overrides: { my_rule: 'role:x', get_image: '@' }, options: { enforceNewDefaults: false } });
  const rules = e.effectiveRules();
  assert.equal(rules.length, GLANCE_POLICY_DEFAULTS.length + 1);
  const byName = new Map(rules.map((r) => [r.name, r]));
  assert.deepEqual(byName.get('my_rule'), { name: 'my_rule', check: 'role:x', source: 'override', registered: false });
  assert.equal(byName.get('get_image')!.check, '');
  assert.equal(byName.get('publicize_image')!.source, 'default');
  assert.deepEqual(byName.get('delete_image')!.scopeTypes, ['project']);
  assert.equal(byName.get('delete_image')!.source, 'default-or-deprecated');
  assert.equal(byName.get('delete_image')!.check, '((rule:context_is_admin or (role:member and project_id:%(project_id)s)) or rule:default)');
  assert.deepEqual(e.warnings, []);
  assert.throws(() => new PolicyEnforcer({ defaults: [DEFAULTS[0]!, DEFAULTS[0]!] }), DuplicatePolicyError);
});

test('createGlanceEnforcer: glance-api.conf options plus the policy file next to it', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'policy.yaml'), '"get_images": "role:auditor"\n');
  const config = readPolicyConfig(parseIni('[oslo_policy]\nenforce_new_defaults = false\nenforce_scope = false\n[DEFAULT]\nenforce_secure_rbac = false\n'));
  const e = createGlanceEnforcer(config, dir);
  assert.deepEqual(e.options, { enforceNewDefaults: false, enforceScope: false, enforceSecureRbac: false, defaultRule: 'default' });
  assert.equal(e.check('get_images', { project_id: 'p1' }, alice), false);
  assert.equal(e.check('get_images', {}, { roles: ['auditor'] }), true);
  // legacy defaults: delete_image is "(new) or rule:default" and default is "" or role:admin
  assert.equal(e.check('delete_image', { project_id: 'p9' }, { project_id: 'p1', roles: [] }), true);
});
