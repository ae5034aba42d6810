import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEnforcer, type Credentials, type EnforcerOptions } from '../../src/policy/enforcer.js';
import { GLANCE_POLICY_DEFAULTS } from '../../src/policy/glanceDefaults.js';
import {
  PolicyDenied,
  buildImageTarget,
  buildProposedImageTarget,
  checkImage,
  enforceAddImage,
  enforceImage,
  enforceImageMember,
  enforceImagePropertyChange,
  enforceImages,
  enforceMetadef,
  enforceRule,
  type PolicyImage,
  type Visibility,
} from '../../src/policy/imageAuth.js';

const secure = (o: Partial<EnforcerOptions> = {}) =>
  new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, options: { enforceNewDefaults: true, enforceScope: true, enforceSecureRbac: true, ...o } });
const legacy = () =>
  new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, options: { enforceNewDefaults: false, enforceScope: false, enforceSecureRbac: false } });

// Keystone's implied roles: admin implies member implies reader.
const ROLES = { reader: ['reader'], member: ['member', 'reader'], admin: ['admin', 'member', 'reader'] } as const;
type Persona = keyof typeof ROLES;
const who = (project: string, persona: Persona): Credentials => ({ user_id: `${persona}@${project}`, project_id: project, roles: [...ROLES[persona]] });

function imageOf(visibility: Visibility, extra: Partial<PolicyImage> = {}): PolicyImage {
  return { id: 'img-1', owner: 'p1', visibility, status: 'active', protected: false, os_hidden: false, properties: { os_distro: 'debian' }, ...extra };
}

// Columns: p1 reader, p1 member, p1 admin, p2 reader, p2 member, p2 admin. The image is
// owned by p1; when it is shared, p2 is a member. Outcomes follow Glance's check strings.
const COLUMNS: Array<[string, Persona]> = [['p1', 'reader'], ['p1', 'member'], ['p1', 'admin'], ['p2', 'reader'], ['p2', 'member'], ['p2', 'admin']];
const MATRIX: Record<Visibility, Record<string, string>> = {
  private: {
    get_image: 'TTTFFT',
    modify_image: 'FTTFFT',
    delete_image: 'FTTFFT',
    upload_image: 'FTTFFT',
    deactivate: 'FTTFFT',
    publicize_image: 'FFTFFT',
    communitize_image: 'FTTFFT',
    download_image: 'FTTFFT',
    add_member: 'FTTFFT',
    delete_member: 'FTTFFT',
    modify_member: 'FFTFFT',
    get_members: 'TTTFFT',
    get_image_location: 'TTTFFT',
    copy_image: 'FFTFFT',
  },
  shared: {
    get_image: 'TTTTTT',
    modify_image: 'FTTFFT',
    delete_image: 'FTTFFT',
    upload_image: 'FTTFFT',
    deactivate: 'FTTFFT',
    publicize_image: 'FFTFFT',
    communitize_image: 'FTTFFT',
    download_image: 'FTTFTT',
    add_member: 'FTTFFT',
    delete_member: 'FTTFFT',
    modify_member: 'FFTFTT',
    get_members: 'TTTTTT',
    get_image_location: 'TTTFFT',
    copy_image: 'FFTFFT',
  },
  public: {
    get_image: 'TTTTTT',
    modify_image: 'FTTFFT',
    delete_image: 'FTTFFT',
    upload_image: 'FTTFFT',
    deactivate: 'FTTFFT',
    publicize_image: 'FFTFFT',
    communitize_image: 'FTTFFT',
    download_image: 'FTTFTT',
    add_member: 'FTTFFT',
    delete_member: 'FTTFFT',
    modify_member: 'FFTFFT',
    get_members: 'TTTFFT',
    get_image_location: 'TTTFFT',
    copy_image: 'FFTFFT',
  },
  community: {
    get_image: 'TTTTTT',
    modify_image: 'FTTFFT',
    delete_image: 'FTTFFT',
    upload_image: 'FTTFFT',
    deactivate: 'FTTFFT',
    publicize_image: 'FFTFFT',
    communitize_image: 'FTTFFT',
    download_image: 'FTTFTT',
    add_member: 'FTTFFT',
    delete_member: 'FTTFFT',
    modify_member: 'FFTFFT',
    get_members: 'TTTFFT',
    get_image_location: 'TTTFFT',
    copy_image: 'FFTFFT',
  },
};

test('image rules matrix: two projects x reader/member/admin x visibility (new defaults)', () => {
  const e = secure();
  for (const [visibility, rules] of Object.entries(MATRIX) as Array<[Visibility, Record<string, string>]>) {
    const image = imageOf(visibility);
    for (const [rule, expected] of Object.entries(rules)) {
      const got = COLUMNS.map(([project, persona]) => {
        const creds = who(project, persona);
        const target = buildImageTarget(image, creds, { isMember: visibility === 'shared' && project === 'p2' });
        return e.check(rule, target, creds) ? 'T' : 'F';
      }).join('');
      assert.equal(got, expected, `${rule} on a ${visibility} image`);
    }
  }
});

test('legacy defaults (enforce_new_defaults off) let every role pass the deprecated rule:default', () => {
  const e = legacy();
  const nobody: Credentials = { project_id: 'p2', roles: [] };
  const target = buildImageTarget(imageOf('private'), nobody);
  for (const rule of ['get_image', 'modify_image', 'delete_image', 'download_image', 'add_member', 'modify_member']) {
    assert.equal(e.check(rule, target, nobody), true, rule);
  }
  // rules without a deprecated check string stay strict
  assert.equal(e.check('publicize_image', target, nobody), false);
  assert.equal(e.check('copy_image', target, nobody), false);
  assert.equal(e.check('publicize_image', target, who('p2', 'admin')), true);
});

function status(fn: () => void): number | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof PolicyDenied) return err.status;
    throw err;
  }
}

test('enforceImage: 404 when the image is invisible or get_image is denied too, else 403', () => {
  const e = secure();
  const priv = imageOf('private');
  const shared = imageOf('shared');
  assert.equal(status(() => enforceImage(e, who('p2', 'member'), 'get_image', priv)), 404);
  assert.equal(status(() => enforceImage(e, who('p2', 'member'), 'modify_image', priv)), 404);
  assert.equal(status(() => enforceImage(e, who('p1', 'reader'), 'modify_image', priv)), 403);
  assert.equal(status(() => enforceImage(e, who('p1', 'member'), 'modify_image', priv)), 'ok');
  assert.equal(status(() => enforceImage(e, who('p2', 'admin'), 'delete_image', priv)), 'ok');
  // a shared image: members see it; others get 404 even though the policy alone would allow get_image
  assert.equal(status(() => enforceImage(e, who('p2', 'reader'), 'get_image', shared, { isMember: true })), 'ok');
  assert.equal(status(() => enforceImage(e, who('p2', 'reader'), 'get_image', shared)), 404);
  assert.equal(status(() => enforceImage(e, who('p2', 'member'), 'delete_image', shared, { isMember: true })), 403);
  assert.equal(status(() => enforceImage(e, who('p2', 'member'), 'download_image', shared, { isMember: true })), 'ok');
  assert.equal(status(() => enforceImage(e, who('p2', 'reader'), 'download_image', imageOf('public'))), 403);
  // the caller may say what its database lookup found
  assert.equal(status(() => enforceImage(e, who('p2', 'member'), 'get_image', shared, { isVisible: false, isMember: true })), 404);
  assert.equal(checkImage(e, who('p1', 'member'), 'upload_image', priv), true);
  assert.equal(checkImage(e, who('p1', 'reader'), 'upload_image', priv), false);
  const err = (() => {
    try {
      enforceImage(e, who('p1', 'reader'), 'deactivate', priv);
    } catch (x) {
      return x as PolicyDenied;
    }
    return undefined;
  })();
  assert.equal(err?.message, 'You are not authorized to complete deactivate action.');
  assert.equal(err?.rule, 'deactivate');
});

test('enforceImage: a system-scoped token gets 404 on project-scoped image rules (enforce_scope)', () => {
  const e = secure();
  const system: Credentials = { user_id: 'root', system_scope: 'all', roles: ['admin', 'member', 'reader'] };
  assert.equal(status(() => enforceImage(e, system, 'get_image', imageOf('public'))), 404);
  assert.equal(status(() => enforceImage(secure({ enforceScope: false }), system, 'get_image', imageOf('public'))), 'ok');
});

test('legacy mode keeps Glance owner checks: check_is_image_mutable and check_admin_or_same_owner', () => {
  const e = legacy();
  const shared = imageOf('shared');
  const outsider: Credentials = { project_id: 'p2', roles: [] };
  assert.equal(status(() => enforceImage(e, outsider, 'get_image', imageOf('public'))), 'ok');
  assert.equal(status(() => enforceImage(e, outsider, 'download_image', imageOf('public'))), 'ok');
  assert.equal(status(() => enforceImage(e, outsider, 'get_image', imageOf('private'))), 404);
  for (const rule of ['modify_image', 'delete_image', 'upload_image', 'deactivate', 'reactivate', 'delete_image_location']) {
    assert.equal(status(() => enforceImage(e, who('p2', 'member'), rule, shared, { isMember: true })), 403, rule);
    assert.equal(status(() => enforceImage(e, { project_id: 'p1', roles: [] }, rule, shared)), 'ok', rule);
  }
  assert.throws(() => enforceImage(e, outsider, 'modify_image', imageOf('public')), /You do not own this image/);
  // rules without the legacy check
  assert.equal(status(() => enforceImage(e, outsider, 'set_image_location', imageOf('public'))), 'ok');
  assert.equal(status(() => enforceImage(e, outsider, 'copy_image', imageOf('public'))), 403);
  // the same member passes with secure RBAC personas only if the check string says so
  assert.equal(status(() => enforceImage(secure(), who('p1', 'member'), 'modify_image', shared)), 'ok');
  // an image without owner is visible to all but mutable by admins only
  assert.equal(status(() => enforceImage(e, outsider, 'modify_image', imageOf('public', { owner: null }))), 403);

  assert.equal(status(() => enforceAddImage(e, { project_id: 'p1', roles: [] }, {})), 'ok');
  assert.throws(() => enforceAddImage(e, { project_id: 'p1', roles: [] }, { owner: 'p2' }), /not permitted to create images owned by 'p2'\./);
  assert.equal(status(() => enforceAddImage(e, who('p1', 'admin'), { owner: 'p2' })), 'ok');
});

test('enforceAddImage: owner, visibility rules and the informative owner message', () => {
  const e = secure();
  assert.equal(status(() => enforceAddImage(e, who('p1', 'member'), {})), 'ok');
  assert.equal(status(() => enforceAddImage(e, who('p1', 'member'), { owner: 'p1', visibility: 'shared' })), 'ok');
  assert.equal(status(() => enforceAddImage(e, who('p1', 'reader'), {})), 403);
  assert.throws(() => enforceAddImage(e, who('p1', 'member'), { owner: 'p2' }), /You are not permitted to create images owned by 'p2'$/);
  assert.throws(() => enforceAddImage(e, who('p1', 'member'), { visibility: 'public' }), (x: unknown) => x instanceof PolicyDenied && x.rule === 'publicize_image');
  assert.equal(status(() => enforceAddImage(e, who('p1', 'member'), { visibility: 'community' })), 'ok');
  assert.equal(status(() => enforceAddImage(e, who('p1', 'admin'), { owner: 'p2', visibility: 'public' })), 'ok');
  assert.deepEqual(buildProposedImageTarget(who('p1', 'member')), { project_id: 'p1', owner: 'p1', visibility: 'private' });
});

test('enforceImagePropertyChange: visibility needs publicize/communitize (403), then modify_image', () => {
  const e = secure();
  const priv = imageOf('private');
  assert.throws(() => enforceImagePropertyChange(e, who('p1', 'member'), priv, 'visibility', 'public'), (x: unknown) => x instanceof PolicyDenied && x.status === 403 && x.rule === 'publicize_image');
  assert.equal(status(() => enforceImagePropertyChange(e, who('p1', 'member'), priv, 'visibility', 'community')), 'ok');
  assert.equal(status(() => enforceImagePropertyChange(e, who('p1', 'admin'), priv, 'visibility', 'public')), 'ok');
  assert.equal(status(() => enforceImagePropertyChange(e, who('p1', 'member'), priv, 'name', 'x')), 'ok');
  assert.equal(status(() => enforceImagePropertyChange(e, who('p2', 'member'), priv, 'name', 'x')), 404);
});

test('member API: get_image first (404), then the member rule (403)', () => {
  const e = secure();
  const shared = imageOf('shared');
  const asMember = { isMember: true };
  assert.equal(status(() => enforceImageMember(e, who('p2', 'member'), 'modify_member', shared, asMember)), 'ok');
  assert.equal(status(() => enforceImageMember(e, who('p2', 'reader'), 'modify_member', shared, asMember)), 403);
  assert.equal(status(() => enforceImageMember(e, who('p2', 'reader'), 'get_members', shared, asMember)), 'ok');
  assert.equal(status(() => enforceImageMember(e, who('p2', 'member'), 'add_member', shared, asMember)), 403);
  assert.equal(status(() => enforceImageMember(e, who('p1', 'member'), 'add_member', shared)), 'ok');
  assert.equal(status(() => enforceImageMember(e, who('p1', 'member'), 'modify_member', shared)), 403);
  assert.equal(status(() => enforceImageMember(e, who('p2', 'member'), 'get_members', imageOf('private'))), 404);
  assert.equal(status(() => enforceImageMember(e, who('p2', 'member'), 'get_members', shared)), 404);
});

test('image target: aliases, extra properties and member_id as Glance computes them', () => {
  const image = imageOf('shared', { name: 'debian', size: 10, tags: ['a'] });
  const t = buildImageTarget(image, who('p2', 'member'), { isMember: true });
  assert.equal(t['id'], 'img-1');
  assert.equal(t['image_id'], 'img-1');
  assert.equal(t['project_id'], 'p1');
  assert.equal(t['owner'], 'p1');
  assert.equal(t['member_id'], 'p2');
  assert.equal(t['os_distro'], 'debian');
  assert.equal(t['disk_format'], null);
  assert.equal(t['protected'], false);
  assert.equal(buildImageTarget(image, who('p1', 'member'), { isMember: true })['member_id'], null);
  assert.equal(buildImageTarget(imageOf('public'), who('p2', 'member'), { isMember: true })['member_id'], null);
  assert.equal(buildImageTarget(image, who('p2', 'member'))['member_id'], null);
  // custom policies can use image attributes and properties
  const e = new PolicyEnforcer({ defaults: GLANCE_POLICY_DEFAULTS, overrides: { download_image: "'debian':%(os_distro)s and False:%(protected)s" } });
  assert.equal(e.check('download_image', t, who('p2', 'reader')), true);
  assert.equal(e.check('download_image', buildImageTarget(imageOf('shared', { protected: true }), who('p2', 'reader')), who('p2', 'reader')), false);
});

test('get_images, metadefs, cache, discovery and the 2024.2 locations API rules', () => {
  const e = secure();
  assert.equal(status(() => enforceImages(e, who('p1', 'reader'), 'get_images')), 'ok');
  assert.equal(status(() => enforceImages(e, { project_id: 'p1', roles: [] }, 'get_images')), 403);

  const mine = { owner: 'p1', visibility: 'private' };
  assert.equal(status(() => enforceMetadef(e, who('p1', 'reader'), 'get_metadef_namespace', mine)), 'ok');
  assert.equal(status(() => enforceMetadef(e, who('p2', 'reader'), 'get_metadef_namespace', mine)), 404);
  assert.equal(status(() => enforceMetadef(e, who('p2', 'reader'), 'get_metadef_objects', { owner: 'p1', visibility: 'public' })), 'ok');
  assert.equal(status(() => enforceMetadef(e, who('p1', 'member'), 'modify_metadef_namespace', mine)), 403);
  assert.equal(status(() => enforceMetadef(e, who('p2', 'member'), 'modify_metadef_namespace', mine)), 404);
  assert.equal(status(() => enforceMetadef(e, who('p1', 'admin'), 'add_metadef_namespace')), 'ok');

  assert.equal(status(() => enforceRule(e, who('p1', 'member'), 'cache_list')), 403);
  assert.equal(status(() => enforceRule(e, who('p1', 'admin'), 'cache_image', buildImageTarget(imageOf('public'), who('p1', 'admin')))), 'ok');
  assert.equal(status(() => enforceRule(e, who('p1', 'admin'), 'tasks_api_access')), 'ok');

  const service: Credentials = { user_id: 'nova', project_id: 'service', roles: ['service'] };
  const queued = imageOf('private', { status: 'queued' });
  const serviceTarget = buildImageTarget(queued, service);
  assert.equal(e.check('add_image_location', serviceTarget, service), true);
  assert.equal(e.check('fetch_image_location', serviceTarget, service), true);
  assert.equal(e.check('stores_info_detail', {}, service), true);
  const owner = who('p1', 'member');
  assert.equal(e.check('add_image_location', buildImageTarget(queued, owner), owner), true);
  assert.equal(e.check('fetch_image_location', buildImageTarget(queued, owner), owner), false);
  assert.equal(e.check('fetch_image_location', buildImageTarget(queued, who('p1', 'admin')), who('p1', 'admin')), false);
  assert.equal(e.check('add_image_location', buildImageTarget(queued, who('p2', 'member')), who('p2', 'member')), false);
  assert.equal(e.check('stores_info_detail', {}, owner), false);
  // the service token's roles are not the user's: Glance's role:service reads the user token
  assert.equal(e.check('fetch_image_location', serviceTarget, { ...owner, service_roles: ['service'] }), false);
});
