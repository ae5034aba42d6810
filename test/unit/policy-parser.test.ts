import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkToString, parseRule, UnsupportedCheckError } from '../../src/policy/parser.js';

const canon = (rule: string) => checkToString(parseRule(rule));

test('parser: special checks and the empty rule', () => {
  assert.equal(canon('@'), '@');
  assert.equal(canon('!'), '!');
  assert.deepEqual(parseRule(''), { kind: 'true' });
  // oslo: a rule of only spaces parses to nothing and fails closed
  assert.deepEqual(parseRule('   '), { kind: 'false' });
});

test('parser: "and" binds tighter than "or", "not" tightest (oslo precedence)', () => {
  assert.equal(canon('a:b or c:d and e:f'), '(a:b or (c:d and e:f))');
  assert.equal(canon('a:b and c:d or e:f and g:h'), '((a:b and c:d) or (e:f and g:h))');
  assert.equal(canon('a:b or c:d and e:f and g:h'), '(a:b or (c:d and e:f and g:h))');
  assert.equal(canon('not a:b and c:d'), '(not a:b and c:d)');
  assert.equal(canon('a:b or not c:d and e:f'), '(a:b or (not c:d and e:f))');
  assert.equal(canon('not not a:b'), 'not not a:b');
  assert.equal(canon('a:b or (c:d and e:f) and g:h'), '(a:b or (c:d and e:f and g:h))');
});

test('parser: parentheses group, also when glued to a check', () => {
  assert.equal(canon('not (a:b or c:d)'), 'not (a:b or c:d)');
  assert.equal(canon('(a:b or c:d) and not e:f'), '((a:b or c:d) and not e:f)');
  assert.equal(canon('(((a:b)))'), 'a:b');
  // the parentheses of %(name)s are part of the check
  assert.equal(canon('(project_id:%(project_id)s)'), 'project_id:%(project_id)s');
  // Glance's get_member writes "admin or reader and (...)" without parentheses
  assert.equal(
    canon('role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)'),
    '(role:admin or (role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)))',
  );
});

test('parser: operators are case-insensitive words', () => {
  assert.equal(canon('a:b AND c:d OR e:f'), '((a:b and c:d) or e:f)');
  assert.equal(canon('role:android'), 'role:android');
});

test('parser: kinds of checks', () => {
  assert.deepEqual(parseRule('rule:admin_required'), { kind: 'rule', match: 'admin_required' });
  assert.deepEqual(parseRule('role:Admin'), { kind: 'role', match: 'Admin' });
  assert.deepEqual(parseRule("'public':%(visibility)s"), { kind: 'generic', key: "'public'", match: '%(visibility)s' });
  assert.deepEqual(parseRule('target.owner:%(user.id)s'), { kind: 'generic', key: 'target.owner', match: '%(user.id)s' });
  // only the first colon separates kind and match
  assert.deepEqual(parseRule('role:compute:admin'), { kind: 'role', match: 'compute:admin' });
});

test('parser: malformed rules fail closed and report why', () => {
  for (const bad of ['a:b and', 'and', ') a:b', 'a:b )', '(a:b', 'a:b c:d', '"quoted"']) {
    const problems: string[] = [];
    assert.equal(checkToString(parseRule(bad, problems)), '!', bad);
    assert.ok(problems.length > 0, bad);
  }
  const problems: string[] = [];
  // a word without a colon is a failed check inside an otherwise valid rule
  assert.equal(checkToString(parseRule('foo or role:admin', problems)), '(! or role:admin)');
  assert.match(problems[0]!, /"foo" is not a check/);
});

test('parser: http and https checks are rejected with a clear error', () => {
  assert.throws(() => parseRule('http://policy.example.com/check'), UnsupportedCheckError);
  assert.throws(() => parseRule('role:admin or https:remote'), /https: checks .* not supported/);
});

test('parser: legacy list-of-lists syntax', () => {
  assert.equal(checkToString(parseRule([])), '@');
  assert.equal(checkToString(parseRule(null)), '@');
  assert.equal(checkToString(parseRule([['role:admin']])), 'role:admin');
  assert.equal(checkToString(parseRule([['role:member', 'project_id:%(project_id)s'], ['role:admin']])), '((role:member and project_id:%(project_id)s) or role:admin)');
  assert.equal(checkToString(parseRule(['role:a', 'role:b'])), '(role:a or role:b)');
  // only empty inner lists: nothing can allow
  assert.equal(checkToString(parseRule([[]])), '!');
});
