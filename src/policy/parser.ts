// oslo.policy's rule language, parsed the way oslo_policy/_parser.py does it, so
// that a policy.yaml written for Glance means the same thing here.
//
//   check string  := "" | "@" | "!" | expr
//   expr          := expr "or" expr | expr "and" expr | "not" expr | "(" expr ")" | check
//   check         := "rule:<name>" | "role:<name>" | "<cred path>:<match>" | "'<literal>':<match>"
//
// Precedence comes from oslo's greedy shift-reduce parser: "not" binds tightest,
// then "and", then "or" ("a or b and c" is "a or (b and c)"). Like oslo, a check
// string that cannot be parsed does not stop the service: it fails closed (never
// allows) and the problem is reported to the caller. `http:`/`https:` checks (a POST
// to a remote server) are not supported and are rejected with an error.

/** A parsed rule: the tree oslo calls BaseCheck. */
export type Check =
  | { readonly kind: 'true' }
  | { readonly kind: 'false' }
  | { readonly kind: 'not'; readonly check: Check }
  | { readonly kind: 'and'; readonly checks: readonly Check[] }
  | { readonly kind: 'or'; readonly checks: readonly Check[] }
  /** `rule:<name>`: the named rule (or the default rule when it does not exist). */
  | { readonly kind: 'rule'; readonly match: string }
  /** `role:<name>`: a role of the credentials, compared case-insensitively. */
  | { readonly kind: 'role'; readonly match: string }
  /**
   * `<key>:<match>`: `key` is a dotted path into the credentials, or a Python literal
   * (`'public'`, `True`, `1`) compared with the substituted match as is.
   */
  | { readonly kind: 'generic'; readonly key: string; readonly match: string };

/** The legacy JSON syntax: a list (or) of lists (and) of single checks. */
export type ListRule = ReadonlyArray<string | ReadonlyArray<string>>;

export const TRUE_CHECK: Check = Object.freeze({ kind: 'true' });
export const FALSE_CHECK: Check = Object.freeze({ kind: 'false' });

/** A check kind imago cannot evaluate (oslo's `http:`/`https:` remote checks). */
export class UnsupportedCheckError extends Error {}

/**
 * Parses a check string (or a legacy list rule). Problems that make oslo fail closed
 * are pushed onto `problems` and the affected part evaluates to false.
 * @throws UnsupportedCheckError for `http:`/`https:` checks.
 */
export function parseRule(rule: string | ListRule | null | undefined, problems: string[] = []): Check {
  if (typeof rule === 'string') return parseTextRule(rule, problems);
  return parseListRule(rule, problems);
}

/** Parses one check without operators: `@`, `!`, `kind:match`. */
export function parseCheck(text: string, problems: string[] = []): Check {
  if (text === '!') return FALSE_CHECK;
  if (text === '@') return TRUE_CHECK;
  const colon = text.indexOf(':');
  if (colon < 0) {
    problems.push(`"${text}" is not a check (expected kind:match, "@" or "!")`);
    return FALSE_CHECK;
  }
  const kind = text.slice(0, colon);
  const match = text.slice(colon + 1);
  if (kind === 'rule') return { kind: 'rule', match };
  if (kind === 'role') return { kind: 'role', match };
  if (kind === 'http' || kind === 'https') {
    throw new UnsupportedCheckError(`"${text}": ${kind}: checks (remote policy servers) are not supported by imago`);
  }
  return { kind: 'generic', key: kind, match };
}

/** The canonical text of a check, as oslo's `str(check)` prints it. */
export function checkToString(check: Check): string {
  switch (check.kind) {
    case 'true':
      return '@';
    case 'false':
      return '!';
    case 'not':
      return `not ${checkToString(check.check)}`;
    case 'and':
      return `(${check.checks.map(checkToString).join(' and ')})`;
    case 'or':
      return `(${check.checks.map(checkToString).join(' or ')})`;
    case 'rule':
    case 'role':
      return `${check.kind}:${check.match}`;
    case 'generic':
      return `${check.key}:${check.match}`;
  }
}

function parseListRule(rule: ListRule | null | undefined, problems: string[]): Check {
  if (rule === null || rule === undefined) return TRUE_CHECK;
  if (!Array.isArray(rule)) {
    problems.push(`a rule must be a string or a list of lists, not ${JSON.stringify(rule)}`);
    return FALSE_CHECK;
  }
  if (rule.length === 0) return TRUE_CHECK;
  const alternatives: Check[] = [];
  for (const inner of rule) {
    const all = typeof inner === 'string' ? [inner] : inner;
    if (!Array.isArray(all) || all.length === 0) continue;
    const checks = all.map((c) => (typeof c === 'string' ? parseCheck(c, problems) : badListItem(c, problems)));
    alternatives.push(checks.length === 1 ? checks[0]! : { kind: 'and', checks });
  }
  if (alternatives.length === 0) return FALSE_CHECK;
  return alternatives.length === 1 ? alternatives[0]! : { kind: 'or', checks: alternatives };
}

function badListItem(item: unknown, problems: string[]): Check {
  problems.push(`${JSON.stringify(item)} is not a check string`);
  return FALSE_CHECK;
}

// ---- the text syntax: tokenizer and oslo's greedy reducer ----

type TokenType = '(' | ')' | 'and' | 'or' | 'not' | 'string' | 'check' | 'and_expr' | 'or_expr';
interface Token {
  type: TokenType;
  /** A Check for check/and_expr/or_expr, the raw text otherwise. */
  value: Check | string;
}

function* tokenize(rule: string, problems: string[]): Generator<Token> {
  for (const raw of rule.split(/\s+/)) {
    if (raw === '') continue;
    // Parentheses only count at the ends of a word: "%(name)s" keeps its own.
    const tok = raw.replace(/^\(+/, '');
    for (let i = 0; i < raw.length - tok.length; i++) yield { type: '(', value: '(' };
    if (tok === '') continue;
    const clean = tok.replace(/\)+$/, '');
    const trailing = tok.length - clean.length;
    const lowered = clean.toLowerCase();
    if (lowered === 'and' || lowered === 'or' || lowered === 'not') {
      yield { type: lowered, value: clean };
    } else if (clean !== '') {
      // oslo tests the quotes on the word before its trailing parentheses are cut.
      if (tok.length >= 2 && (tok[0] === '"' || tok[0] === "'") && tok[tok.length - 1] === tok[0]) {
        yield { type: 'string', value: tok.slice(1, -1) };
      } else {
        yield { type: 'check', value: parseCheck(clean, problems) };
      }
    }
    for (let i = 0; i < trailing; i++) yield { type: ')', value: ')' };
  }
}

type Reduce = (...values: Array<Check | string>) => Token;

const asCheck = (v: Check | string): Check => v as Check;

/** The reductions in oslo's order; the first one matching the end of the stack runs. */
const REDUCERS: ReadonlyArray<readonly [readonly TokenType[], Reduce]> = [
  [['(', 'or_expr', ')'], (_l, c) => ({ type: 'check', value: asCheck(c!) })],
  [['(', 'and_expr', ')'], (_l, c) => ({ type: 'check', value: asCheck(c!) })],
  [['(', 'check', ')'], (_l, c) => ({ type: 'check', value: asCheck(c!) })],
  [['check', 'and', 'check'], (a, _op, b) => ({ type: 'and_expr', value: { kind: 'and', checks: [asCheck(a!), asCheck(b!)] } })],
  [['or_expr', 'and', 'check'], (or, _op, c) => ({ type: 'or_expr', value: bindAndToLastAlternative(asCheck(or!), asCheck(c!)) })],
  [['and_expr', 'and', 'check'], (and, _op, c) => ({ type: 'and_expr', value: appendTo(asCheck(and!), asCheck(c!)) })],
  [['and_expr', 'or', 'check'], (a, _op, b) => ({ type: 'or_expr', value: { kind: 'or', checks: [asCheck(a!), asCheck(b!)] } })],
  [['check', 'or', 'check'], (a, _op, b) => ({ type: 'or_expr', value: { kind: 'or', checks: [asCheck(a!), asCheck(b!)] } })],
  [['or_expr', 'or', 'check'], (or, _op, c) => ({ type: 'or_expr', value: appendTo(asCheck(or!), asCheck(c!)) })],
  [['not', 'check'], (_n, c) => ({ type: 'check', value: { kind: 'not', check: asCheck(c!) } })],
];

function appendTo(group: Check, check: Check): Check {
  if (group.kind !== 'and' && group.kind !== 'or') throw new Error('internal: not a group');
  return { kind: group.kind, checks: [...group.checks, check] };
}

/** "a or b and c": the "and" takes the last alternative of the "or" (oslo's _mix_or_and_expr). */
function bindAndToLastAlternative(or: Check, check: Check): Check {
  if (or.kind !== 'or') throw new Error('internal: not an or');
  const last = or.checks[or.checks.length - 1]!;
  const joined: Check = last.kind === 'and' ? appendTo(last, check) : { kind: 'and', checks: [last, check] };
  return { kind: 'or', checks: [...or.checks.slice(0, -1), joined] };
}

function reduce(stack: Token[]): void {
  for (;;) {
    const rule = REDUCERS.find(([pattern]) => {
      if (stack.length < pattern.length) return false;
      const tail = stack.slice(stack.length - pattern.length);
      return tail.every((t, i) => t.type === pattern[i]);
    });
    if (!rule) return;
    const [pattern, fn] = rule;
    const tail = stack.splice(stack.length - pattern.length, pattern.length);
    stack.push(fn(...tail.map((t) => t.value)));
  }
}

function parseTextRule(rule: string, problems: string[]): Check {
  if (rule === '') return TRUE_CHECK;
  const stack: Token[] = [];
  for (const token of tokenize(rule, problems)) {
    stack.push(token);
    reduce(stack);
  }
  const only = stack.length === 1 ? stack[0]! : undefined;
  if (!only || typeof only.value === 'string') {
    problems.push(`could not parse rule "${rule}"`);
    return FALSE_CHECK;
  }
  return only.value;
}
