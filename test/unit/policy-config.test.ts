// The operator's policy configuration: policy files (YAML, JSON, policy.d) and
// the [oslo_policy]/[DEFAULT] options of glance-api.conf.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyEnforcer, PolicyFileError, type Credentials } from '../../src/policy/enforcer.js';
import { loadPolicyOverrides, readPolicyConfig, readPolicyFile } from '../../src/policy/config.js';
import { GLANCE_POLICY_DEFAULTS } from '../../src/policy/glanceDefaults.js';
import { parseIni } from '../../src/config/ini.js';

const alice: Credentials = { user_id: 'alice', project_id: 'p1', roles: ['member', 'reader'] };

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'imago-policy-'));
}

test('policy.yaml overrides: YAML, JSON, legacy lists, null values; bad files are errors', () => {
  const dir = tmp();
  const yamlPath = join(dir, 'policy.yaml');
  writeFileSync(
    yamlPath,
    [
      '# operator overrides',
      '"context_is_admin": "role:admin or role:cloud_admin"',
      '"publicize_image": "rule:context_is_admin"',
      '"get_images": [["role:reader"], ["role:observer"]]',
      '"download_image":',
      "copy_image: 'role:member'",
    ].join('\n'),
  );
  const rules = readPolicyFile(yamlPath);
  assert.deepEqual(rules['get_images'], [['role:reader'], ['role:observer']]);
  assert.equal(rules['download_image'], null);

  const e = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, overrides: rules, options: { enforceNewDefaults: true, enforceScope: true } });
  const cloudAdmin: Credentials = { project_id: 'ops', roles: ['cloud_admin'] };
  assert.equal(e.check('publicize_image', { project_id: 'p1' }, cloudAdmin), true);
  // the context_is_admin override reaches every rule spelled rule:context_is_admin
  assert.equal(e.check('delete_image', { project_id: 'p1' }, cloudAdmin), true);
  assert.equal(e.check('get_images', { project_id: 'x' }, { project_id: 'x', roles: ['observer'] }), true);
  assert.equal(e.check('download_image', { project_id: 'p1' }, { project_id: 'p9', roles: [] }), true); // null: always
  assert.equal(e.check('copy_image', {}, alice), true);

  const jsonPath = join(dir, 'policy.json');
  writeFileSync(jsonPath, JSON.stringify({ add_image: 'role:uploader' }));
  assert.deepEqual(readPolicyFile(jsonPath), { add_image: 'role:uploader' });
  writeFileSync(join(dir, 'empty.yaml'), '# nothing\n');
  assert.deepEqual(readPolicyFile(join(dir, 'empty.yaml')), {});
  writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
  assert.throws(() => readPolicyFile(join(dir, 'list.yaml')), PolicyFileError);
  writeFileSync(join(dir, 'broken.yaml'), 'a: "unterminated\n');
  assert.throws(() => readPolicyFile(join(dir, 'broken.yaml')), PolicyFileError);
  assert.throws(() => new PolicyEnforcer({ defaults: [], overrides: { x: 42 } }), /not a check string/);
  assert.throws(() => new PolicyEnforcer({ defaults: [], overrides: { x: 'http://pdp.example/check' } }), /not supported/);
  const unparsable = new PolicyEnforcer({ defaults: [], overrides: { x: 'role:a and' } });
  assert.equal(unparsable.check('x', {}, { roles: ['a'] }), false);
  assert.match(unparsable.warnings[0]!, /"x".*could not parse.*never allow/);
});

test('policy_file then policy.d files in name order; a missing policy file means defaults only', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'policy.yaml'), 'a: "role:one"\nb: "role:one"\n');
  mkdirSync(join(dir, 'policy.d'));
  writeFileSync(join(dir, 'policy.d', '10-first.yaml'), 'b: "role:two"\nc: "role:two"\n');
  writeFileSync(join(dir, 'policy.d', '20-second.json'), '{"c": "role:three"}');
  writeFileSync(join(dir, 'policy.d', '.hidden.yaml'), 'a: "role:hidden"\n');
  assert.deepEqual(loadPolicyOverrides({ policyFile: 'policy.yaml', policyDirs: ['policy.d'] }, dir), {
    a: 'role:one',
    b: 'role:two',
    c: 'role:three',
  });
  assert.deepEqual(loadPolicyOverrides({ policyFile: join(dir, 'nope.yaml'), policyDirs: [] }, dir), {});
});

test('readPolicyConfig reads [oslo_policy] and Glance options with current defaults', () => {
  const defaults = readPolicyConfig(parseIni('[DEFAULT]\n'));
  assert.deepEqual(defaults, {
    policyFile: 'policy.yaml',
    policyDirs: ['policy.d'],
    enforcer: { enforceNewDefaults: true, enforceScope: true, enforceSecureRbac: true, defaultRule: 'default' },
    propertyProtectionFile: undefined,
    propertyProtectionRuleFormat: 'roles',
  });
  const zed = readPolicyConfig(
    parseIni(
      [
        '[DEFAULT]',
        'enforce_secure_rbac = false',
        'property_protection_file = /etc/glance/property-protections.conf',
        'property_protection_rule_format = Policies',
        '[oslo_policy]',
        'enforce_new_defaults = False',
        'enforce_scope = false',
        'policy_file = /etc/glance/policy.json',
        'policy_dirs = /etc/glance/a.d',
        'policy_dirs = /etc/glance/b.d',
      ].join('\n'),
    ),
  );
  assert.deepEqual(zed.enforcer, { enforceNewDefaults: false, enforceScope: false, enforceSecureRbac: false, defaultRule: 'default' });
  assert.equal(zed.policyFile, '/etc/glance/policy.json');
  assert.deepEqual(zed.policyDirs, ['/etc/glance/a.d', '/etc/glance/b.d']);
  assert.equal(zed.propertyProtectionRuleFormat, 'policies');
  assert.throws(() => readPolicyConfig(parseIni('[DEFAULT]\nproperty_protection_rule_format = acl\n')), /roles or policies/);
});
