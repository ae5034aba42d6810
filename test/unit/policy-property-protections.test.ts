import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyEnforcer, type Credentials } from '../../src/policy/enforcer.js';
import { GLANCE_POLICY_DEFAULTS } from '../../src/policy/glanceDefaults.js';
import { PropertyProtectionError, PropertyProtections, type PropertyOperation } from '../../src/policy/propertyProtections.js';
import { tempDir } from '../helpers/cleanup.js';

function file(text: string): string {
  const path = join(tempDir('imago-propprot-'), 'property-protections.conf');
  writeFileSync(path, text);
  return path;
}

const user = (...roles: string[]): Credentials => ({ user_id: 'u', project_id: 'p1', roles });
const OPS: PropertyOperation[] = ['create', 'read', 'update', 'delete'];
const allowed = (p: PropertyProtections, name: string, creds: Credentials) =>
  OPS.map((op) => (p.check(name, op, creds) ? op[0] : '-')).join('');

// Modelled on Glance's property-protections-roles.conf sample.
const ROLES_FILE = `
# Sections are regular expressions, tried in file order.
[^x_billing_.*]
create = admin,billing
read = admin, billing, member
update = admin,billing
delete = admin

[^x_secret$]
create = admin
read = !
update = !
delete = admin

[^x_public_.*]
create = @
read = @
update = @
delete = @

[^x_.*]
Create = admin,member,_member_
read = admin,member,_member_
update = admin,member,_member_
delete =

[.*]
create = admin
read = admin
update = admin
delete = admin
`;

test('roles format: the first matching section decides, in file order', () => {
  const p = PropertyProtections.load(file(ROLES_FILE), 'roles');
  assert.equal(allowed(p, 'x_billing_code', user('billing')), 'cru-');
  assert.equal(allowed(p, 'x_billing_code', user('member', 'reader')), '-r--');
  assert.equal(allowed(p, 'x_billing_code', user('admin')), 'crud');
  // "!" denies even admins; "@" allows anyone, with or without roles
  assert.equal(allowed(p, 'x_secret', user('admin')), 'c--d');
  assert.equal(allowed(p, 'x_public_note', user()), 'crud');
  // an empty value allows nobody (and is reported)
  assert.equal(allowed(p, 'x_owner_note', user('member')), 'cru-');
  assert.equal(allowed(p, 'x_owner_note', user('admin')), 'cru-');
  assert.ok(p.warnings.some((w) => /delete for rule \^x_\.\*/.test(w)));
  // the catch-all
  assert.equal(allowed(p, 'os_distro', user('member')), '----');
  assert.equal(allowed(p, 'os_distro', user('admin')), 'crud');
  // the file's roles are lowercased, the token's are compared as they are (as Glance does)
  assert.equal(allowed(p, 'x_billing_code', user('BILLING')), '----');
  // the service token's roles count
  assert.equal(allowed(p, 'os_distro', { ...user('member'), service_roles: ['admin'] }), 'crud');
  assert.deepEqual(p.readable({ x_billing_code: '1', os_distro: 'debian', x_secret: 's' }, user('member')), { x_billing_code: '1' });
});

test('roles format: regexes are searched, not anchored; no matching section denies', () => {
  const p = PropertyProtections.parse('[secret]\ncreate = @\nread = @\nupdate = @\ndelete = @\n', 'roles');
  assert.equal(p.check('my_secret_key', 'read', user()), true);
  assert.equal(p.check('other', 'read', user('admin')), false);
  const ci = PropertyProtections.parse('[(?i)^hw_]\ncreate = admin\nread = @\nupdate = admin\ndelete = admin\n', 'roles');
  assert.equal(ci.check('HW_QEMU_GUEST_AGENT', 'read', user()), true);
  // no sections at all: no protection
  assert.equal(PropertyProtections.parse('# empty\n', 'roles').check('anything', 'delete', user()), true);
  // unknown operations are denied
  assert.equal(p.check('my_secret_key', 'execute' as PropertyOperation, user('admin')), false);
});

test('policies format: each operation names a policy rule, registered as "<section>:<op>"', () => {
  const enforcer = new PolicyEnforcer({
    defaults: GLANCE_POLICY_DEFAULTS,
    overrides: { glance_creator: 'role:admin or role:glance_create_user' },
    options: { enforceNewDefaults: true },
  });
  // Modelled on Glance's property-protections-policies.conf sample.
  const p = PropertyProtections.load(
    file(
      [
        '[^x_.*]',
        'create = glance_creator',
        'read = default',
        'update = glance_creator',
        'delete = !',
        '',
        '[^os_]',
        'create = @',
        'read = @',
        'update = no_such_policy',
        'delete = context_is_admin',
        '',
        '[.*]',
        'create = context_is_admin',
        'read = context_is_admin',
        'update = context_is_admin',
        'delete = context_is_admin',
      ].join('\n'),
    ),
    'policies',
    enforcer,
  );
  assert.equal(allowed(p, 'x_foo', user('member')), '-r--');
  assert.equal(allowed(p, 'x_foo', user('glance_create_user')), 'cru-');
  assert.equal(allowed(p, 'x_foo', user('admin')), 'cru-');
  // an undefined policy falls back to the default rule ("" in current Glance: anyone)
  assert.equal(allowed(p, 'os_distro', user()), 'cru-');
  assert.equal(allowed(p, 'os_distro', user('admin')), 'crud');
  assert.equal(allowed(p, 'hw_disk_bus', user('member')), '----');
  assert.equal(allowed(p, 'hw_disk_bus', user('admin')), 'crud');
  assert.equal(allowed(p, 'hw_disk_bus', { ...user('member'), service_roles: ['admin'] }), 'crud');
  assert.ok(enforcer.hasRule('^x_.*:create'));
  assert.equal(enforcer.effectiveRules().find((r) => r.name === '^x_.*:create')?.check, 'rule:glance_creator');

  const strictDefault = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, overrides: { default: 'role:admin' } });
  const q = PropertyProtections.parse('[.*]\ncreate = nothing_defined\nread = @\nupdate = @\ndelete = @\n', 'policies', strictDefault);
  assert.equal(q.check('a', 'create', user('member')), false);
  assert.equal(q.check('a', 'create', user('admin')), true);
});

test('invalid files are errors at load', () => {
  const cases: Array<[string, RegExp]> = [
    ['[^x_]\ncreate = admin\nread = admin\nupdate = admin\n', /does not set "delete"/],
    ['[^x_]\ncreate = @,!\nread = admin\nupdate = admin\ndelete = admin\n', /mutually exclusive/],
    ['[x_(]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n', /malformed property protection rule/],
    ['[a]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n[a]\ncreate = admin\n', /appears twice/],
    ['[a]\ncreate = admin\ncreate = member\n', /appears twice/],
    ['create = admin\n', /outside of a section/],
    ['[a]\njust a line\n', /expected "option = value"/],
  ];
  for (const [text, error] of cases) assert.throws(() => PropertyProtections.load(file(text), 'roles'), error, text);
  const enforcer = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS });
  assert.throws(
    () => PropertyProtections.parse('[a]\ncreate = p1,p2\nread = p\nupdate = p\ndelete = p\n', 'policies', enforcer),
    /multiple policies/,
  );
  assert.throws(() => PropertyProtections.parse('', 'acl' as 'roles'), /property_protection_rule_format/);
  assert.throws(() => PropertyProtections.parse('', 'policies'), PropertyProtectionError);
  assert.throws(() => PropertyProtections.load('/nonexistent/property-protections.conf', 'roles'), /Couldn't find property protection file/);
});

test('[DEFAULT] values apply to every section, as with Python configparser', () => {
  const p = PropertyProtections.parse('[DEFAULT]\ndelete = admin\n[^x_]\ncreate = @\nread = @\nupdate = @\n', 'roles');
  assert.equal(p.check('x_a', 'delete', user('admin')), true);
  assert.equal(p.check('x_a', 'delete', user('member')), false);
});
