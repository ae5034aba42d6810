// imago's policy engine against the real thing: the installed Glance (Zed) and
// oslo.policy answer the same questions through glance_policy_oracle.py.
// Needs Debian's python3-glance (it brings python3-oslo.policy) at /usr/bin/python3.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GLANCE_POLICY_DEFAULTS,
  PolicyDenied,
  PolicyEnforcer,
  PropertyProtections,
  enforceImage,
  enforceImageMember,
  enforceImagePropertyChange,
  readPolicyFile,
  type Credentials,
  type PolicyImage,
  type PropertyRuleFormat,
  type Visibility,
} from '../../src/policy/index.js';
import { tempDir } from '../helpers/cleanup.js';

const PYTHON = '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('../../../test/conformance/glance_policy_oracle.py', import.meta.url));

function ask<T>(request: object): T {
  const r = spawnSync(PYTHON, [ORACLE], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) {
    throw new Error(`the Glance policy oracle failed (needs ${PYTHON} with Debian's python3-glance): ${r.error?.message ?? r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

// Rules whose check strings changed after Zed on purpose (see glanceDefaults.ts).
const NEWER_BEHAVIOUR = new Set(['stores_info_detail']);

const CREDS: Credentials[] = [
  ...['p1', 'p2'].flatMap((p) =>
    [['reader'], ['member'], ['member', 'reader'], ['admin'], ['Admin'], [], ['service']].map((roles) => ({ user_id: 'u', project_id: p, roles })),
  ),
  { user_id: 'u', project_id: null, system_scope: 'all', roles: ['admin'] },
  { user_id: 'u', project_id: null, domain_id: 'd1', roles: ['admin'] },
];
const TARGETS = [
  ...['public', 'private', 'shared', 'community'].flatMap((visibility) =>
    [null, 'p2'].map((member) => ({ project_id: 'p1', owner: 'p1', visibility, member_id: member, id: 'img' })),
  ),
  { project_id: 'p2', owner: 'p1', visibility: 'private' },
  {},
];
const MODES: Array<[boolean, boolean]> = [[false, false], [true, false], [true, true], [false, true]];

function compareRules(overrides: Record<string, unknown>, policyFile?: string): void {
  const rules = [...GLANCE_POLICY_DEFAULTS.map((d) => d.name), 'no_such_rule'];
  const answer = ask<{ registered: string[]; results: Array<boolean | string> }>({ kind: 'rules', policy_file: policyFile, modes: MODES, rules, creds: CREDS, targets: TARGETS });
  const zed = new Set(answer.registered);
  let i = 0;
  let compared = 0;
  const differences: string[] = [];
  for (const [nd, sc] of MODES) {
    const e = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, overrides, options: { enforceNewDefaults: nd, enforceScope: sc } });
    for (const rule of rules) {
      for (const creds of CREDS) {
        for (const target of TARGETS) {
          const expected = answer.results[i++];
          if (rule !== 'no_such_rule' && (!zed.has(rule) || NEWER_BEHAVIOUR.has(rule))) continue;
          compared++;
          const got = e.check(rule, target, creds);
          if (got !== expected) differences.push(`${rule} new_defaults=${nd} scope=${sc} ${JSON.stringify(creds)} ${JSON.stringify(target)}: glance ${expected}, imago ${got}`);
        }
      }
    }
  }
  assert.ok(compared > 30000, `compared ${compared}`);
  assert.deepEqual(differences.slice(0, 10), []);
}

test('every Glance rule gives oslo.policy\'s answer (new/legacy defaults, scope, unknown rules)', () => {
  compareRules({});
});

test('the same with an operator policy file (lists, null, loops, undefined rules, literals)', () => {
  const dir = tempDir('imago-oracle-');
  const file = join(dir, 'policy.yaml');
  writeFileSync(
    file,
    [
      '"default": "role:admin"',
      '"get_image": "role:admin or project_id:%(project_id)s or \'public\':%(visibility)s"',
      '"modify_image": [["role:member", "project_id:%(project_id)s"], ["role:admin"]]',
      '"download_image":',
      '"delete_image": "rule:undefined_rule"',
      '"add_member": "not role:reader and project_id:%(project_id)s"',
      '"publicize_image": "role:ADMIN"',
      '"deactivate": "True:%(protected)s or \'p1\':%(owner)s"',
      '"reactivate": "roles:member"',
      '"copy_image": "rule:loop_a"',
      '"loop_a": "rule:loop_b"',
      '"loop_b": "role:admin"',
      '"upload_image": "project_id:%(project_id)s and not \'community\':%(visibility)s"',
      '"get_images": "bogus"',
      '"get_member": "role:member or role:reader and project_id:%(member_id)s"',
    ].join('\n'),
  );
  compareRules(readPolicyFile(file), file);
});

test('image and member API decisions match ImageAPIPolicy/MemberAPIPolicy (403/404, legacy owner checks)', () => {
  const personas: Record<string, string[]> = { none: [], reader: ['reader'], member: ['member', 'reader'], admin: ['admin', 'member', 'reader'] };
  const modes: Array<[boolean, boolean, boolean]> = [[true, true, true], [false, false, false], [false, false, true], [true, false, false]];
  const imageRules = ['get_image', 'modify_image', 'delete_image', 'upload_image', 'download_image', 'deactivate', 'reactivate', 'delete_image_location', 'get_image_location', 'set_image_location', 'copy_image'];
  const memberRules = ['get_members', 'get_member', 'add_member', 'delete_member', 'modify_member'];
  type Scenario = { mode: [boolean, boolean, boolean]; creds: Credentials; image: { owner: string; visibility: Visibility }; isMember: boolean; kind: string; rule: string; value?: string };
  const scenarios: Scenario[] = [];
  for (const mode of modes) for (const project of ['p1', 'p2']) for (const roles of Object.values(personas)) for (const visibility of ['private', 'shared', 'public', 'community'] as Visibility[]) for (const isMember of [false, true]) {
    if (isMember && (visibility !== 'shared' || project === 'p1')) continue;
    const base = { mode, creds: { user_id: 'u', project_id: project, roles }, image: { owner: 'p1', visibility }, isMember };
    for (const rule of imageRules) scenarios.push({ ...base, kind: 'image', rule });
    for (const rule of memberRules) scenarios.push({ ...base, kind: 'member', rule });
    for (const value of ['public', 'community', 'private']) scenarios.push({ ...base, kind: 'visibility', rule: 'visibility', value });
  }
  scenarios.push({ mode: [true, true, true], creds: { user_id: 'u', project_id: null, system_scope: 'all', roles: personas['admin']! }, image: { owner: 'p1', visibility: 'public' }, isMember: false, kind: 'image', rule: 'get_image' });
  const expected = ask<{ results: Array<number | string> }>({ kind: 'image', scenarios }).results;
  const differences: string[] = [];
  const enforcers = new Map<string, PolicyEnforcer>();
  scenarios.forEach((s, i) => {
    const [nd, sc, rbac] = s.mode;
    const key = s.mode.join();
    const e = enforcers.get(key) ?? new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, options: { enforceNewDefaults: nd, enforceScope: sc, enforceSecureRbac: rbac } });
    enforcers.set(key, e);
    const image: PolicyImage = { id: 'img-1', owner: s.image.owner, visibility: s.image.visibility, status: 'active', protected: false, os_hidden: false, properties: {} };
    let got: number | string = 'ok';
    try {
      if (s.kind === 'image') enforceImage(e, s.creds, s.rule, image, { isMember: s.isMember });
      else if (s.kind === 'member') enforceImageMember(e, s.creds, s.rule, image, { isMember: s.isMember });
      else enforceImagePropertyChange(e, s.creds, image, 'visibility', s.value, { isMember: s.isMember });
    } catch (x) {
      if (!(x instanceof PolicyDenied)) throw x;
      got = x.status;
    }
    if (got !== expected[i]) differences.push(`${JSON.stringify(s)}: glance ${expected[i]}, imago ${got}`);
  });
  assert.ok(scenarios.length > 2500);
  assert.deepEqual(differences.slice(0, 10), []);
});

test('property protections match Glance\'s PropertyRules in both formats', () => {
  const dir = tempDir('imago-oracle-');
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify({ glance_creator: 'role:admin or role:glance_create_user' }));
  const files: Record<PropertyRuleFormat, string> = {
    roles: [
      '[^x_billing_.*]', 'create = admin,billing', 'read = admin, billing, member', 'update = admin,billing', 'delete = admin',
      '[^x_secret$]', 'create = admin', 'read = !', 'update = !', 'delete = admin',
      '[^x_public_.*]', 'create = @', 'read = @', 'update = @', 'delete = @',
      '[^x_.*]', 'Create = admin,member,_member_', 'read = admin,member,_member_', 'update = admin,member,_member_', 'delete =',
      '[secret]', 'create = @', 'read = @', 'update = @', 'delete = @',
      '[.*]', 'create = admin', 'read = admin', 'update = admin', 'delete = admin',
    ].join('\n'),
    policies: [
      '[^x_.*]', 'create = glance_creator', 'read = default', 'update = glance_creator', 'delete = !',
      '[^os_]', 'create = @', 'read = @', 'update = no_such_policy', 'delete = context_is_admin',
      '[.*]', 'create = context_is_admin', 'read = context_is_admin', 'update = context_is_admin', 'delete = context_is_admin',
    ].join('\n'),
  };
  const names = ['x_billing_code', 'x_secret', 'x_public_note', 'x_owner_note', 'os_distro', 'my_secret_key', 'hw_disk_bus', 'X_BILLING'];
  const creds = [[], ['member'], ['member', 'reader'], ['admin'], ['billing'], ['BILLING'], ['glance_create_user']].flatMap((roles) => [
    { user_id: 'u', project_id: 'p1', roles },
    { user_id: 'u', project_id: 'p1', roles, service_roles: ['admin'] },
  ]);
  for (const format of ['roles', 'policies'] as const) {
    const file = join(dir, `${format}.conf`);
    writeFileSync(file, files[format]);
    const expected = ask<{ results: boolean[] }>({ kind: 'props', format, file, policy_file: policyFile, names, creds }).results;
    const e = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, overrides: readPolicyFile(policyFile), options: { enforceNewDefaults: true } });
    const p = PropertyProtections.load(file, format, e);
    const got = names.flatMap((n) => creds.flatMap((c) => (['create', 'read', 'update', 'delete'] as const).map((op) => p.check(n, op, c))));
    assert.deepEqual(got, expected, format);
  }
});
