import { VtError } from '../errors.ts';

/** Arithmetic operators, on numbers. */
export type ArithOp = '+' | '-' | '*' | '/';
/** Comparison operators: numbers in, boolean out; they do not chain. */
export type CompareOp = '<' | '<=' | '>' | '>=' | '==' | '!=';
/** Built-in functions over numbers. */
export type FunctionName = 'abs' | 'min' | 'max';

/** A parsed, statically typed metric expression; `pos` is the node's 0-based offset in the source. */
export type MetricExpr =
  | { kind: 'number'; value: number; pos: number } // value is finite and non-negative
  | { kind: 'boolean'; value: boolean; pos: number }
  | { kind: 'metric'; name: string; pos: number }
  | { kind: 'negate'; operand: MetricExpr; pos: number }
  | { kind: 'not'; operand: MetricExpr; pos: number }
  | { kind: 'arith'; op: ArithOp; left: MetricExpr; right: MetricExpr; pos: number }
  | { kind: 'compare'; op: CompareOp; left: MetricExpr; right: MetricExpr; pos: number }
  | { kind: 'logic'; op: 'and' | 'or'; left: MetricExpr; right: MetricExpr; pos: number }
  | { kind: 'call'; fn: FunctionName; args: MetricExpr[]; pos: number };

/** The longest expression accepted, in UTF-16 code units. */
export const MAX_EXPR_LENGTH = 1000;
/** The deepest nesting of parentheses, calls and unary operators accepted. */
export const MAX_EXPR_DEPTH = 64;

type ValueType = 'number' | 'boolean';
type Token = { type: 'num' | 'name' | 'keyword' | 'punct' | 'end'; text: string; pos: number; value: number };
type BinaryInfo = { prec: number; kind: 'logic' | 'compare' | 'arith'; op: string };

const KEYWORDS = new Set(['and', 'or', 'not', 'true', 'false', 'abs', 'min', 'max']);
const TWO_CHAR = new Set(['<=', '>=', '==', '!=', '&&', '||']);
const ONE_CHAR = new Set(['<', '>', '!', '+', '-', '*', '/', '(', ')', ',']);
const NUMBER = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
/** A metric name, optionally scoped: `auc@latest`, `auc@training` (see the metric gate). */
const NAME = /[A-Za-z_][A-Za-z0-9_.]*(?:@[a-z][a-z0-9_-]*)?/y;
const WORD_TAIL = /[A-Za-z0-9_.]*/y;
const CHAR_HINTS: Record<string, string> = {
  '=': 'did you mean "=="?',
  '&': 'did you mean "&&" (or "and")?',
  '|': 'did you mean "||" (or "or")?',
  '.': 'numbers need a leading digit, e.g. 0.5',
};
const LEVELS: [number, BinaryInfo['kind'], string[]][] = [
  [1, 'logic', ['or', '||']],
  [2, 'logic', ['and', '&&']],
  [4, 'compare', ['<', '<=', '>', '>=', '==', '!=']],
  [5, 'arith', ['+', '-']],
  [6, 'arith', ['*', '/']],
];
const ALIASES: Record<string, string> = { '||': 'or', '&&': 'and' };
const BINARY = new Map(
  LEVELS.flatMap(([prec, kind, ops]) =>
    ops.map((t): [string, BinaryInfo] => [t, { prec, kind, op: ALIASES[t] ?? t }]),
  ),
);
const NOT_PREC = 3;
const NEGATE_PREC = 7;
const DESCRIBE: Record<ValueType, string> = { number: 'a number', boolean: 'a comparison or true/false' };
const FOUND: Record<ValueType, string> = { number: 'a number', boolean: 'a boolean' };

function typeOf(e: MetricExpr): ValueType {
  return e.kind === 'boolean' || e.kind === 'not' || e.kind === 'compare' || e.kind === 'logic'
    ? 'boolean'
    : 'number';
}

/** "at column N of <source>", quoting at most an 80-character window of the source around `pos`. */
function where(src: string, pos: number): string {
  const start = Math.max(0, Math.min(pos - 40, src.length - 80));
  const quoted = JSON.stringify(src.slice(start, start + 80));
  return `at column ${pos + 1} of ${start > 0 ? '…' : ''}${quoted}${start + 80 < src.length ? '…' : ''}`;
}

function tokenize(src: string, fail: (pos: number, message: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (c >= '0' && c <= '9') {
      NUMBER.lastIndex = i;
      const text = NUMBER.exec(src)![0];
      WORD_TAIL.lastIndex = i + text.length;
      const tail = WORD_TAIL.exec(src)![0];
      if (tail !== '') {
        const bad = JSON.stringify(text + tail);
        fail(i, `malformed number ${bad} ${where(src, i)}: expected digits, e.g. 42, 0.85 or 1e-3`);
      }
      const value = Number(text);
      if (!Number.isFinite(value)) fail(i, `number ${JSON.stringify(text)} ${where(src, i)} is too large`);
      tokens.push({ type: 'num', text, pos: i, value });
    } else if (/[A-Za-z_]/.test(c)) {
      NAME.lastIndex = i;
      const text = NAME.exec(src)![0];
      tokens.push({ type: KEYWORDS.has(text) ? 'keyword' : 'name', text, pos: i, value: 0 });
    } else if (TWO_CHAR.has(two) || ONE_CHAR.has(c)) {
      const text = TWO_CHAR.has(two) ? two : c;
      tokens.push({ type: 'punct', text, pos: i, value: 0 });
    } else {
      const ch = String.fromCodePoint(src.codePointAt(i)!);
      const hint = CHAR_HINTS[ch] ?? 'expected a number, a metric name, an operator or a parenthesis';
      fail(i, `unknown character ${JSON.stringify(ch)} ${where(src, i)}: ${hint}`);
    }
    i += tokens[tokens.length - 1]!.text.length;
  }
  tokens.push({ type: 'end', text: '', pos: src.length, value: 0 });
  return tokens;
}

/** Parse and type-check a gate expression; throws VtError BAD_INPUT with the error's position. */
export function parseMetricExpr(src: string): MetricExpr {
  function fail(pos: number, message: string): never {
    throw new VtError('BAD_INPUT', message, { details: { expr: src, position: pos, column: pos + 1 } });
  }
  if (typeof src !== 'string') fail(0, 'a metric expression must be a string');
  if (src.length > MAX_EXPR_LENGTH) {
    fail(MAX_EXPR_LENGTH, `the expression is ${src.length} characters long; the limit is ${MAX_EXPR_LENGTH}`);
  }
  const tokens = tokenize(src, fail);
  if (tokens.length === 1) fail(0, 'the expression is empty: expected a comparison such as "auc >= 0.85"');
  let i = 0;
  let depth = 0;
  const peek = (): Token => tokens[Math.min(i, tokens.length - 1)]!;
  const next = (): Token => tokens[Math.min(i++, tokens.length - 1)]!;
  const show = (t: Token): string => (t.type === 'end' ? 'end of input' : JSON.stringify(t.text));
  const unexpected = (t: Token, expected: string): never =>
    fail(t.pos, `unexpected ${show(t)} ${where(src, t.pos)}: expected ${expected}`);
  const enter = (pos: number): void => {
    if (++depth > MAX_EXPR_DEPTH)
      fail(pos, `nesting deeper than ${MAX_EXPR_DEPTH} levels ${where(src, pos)}`);
  };
  const want = (e: MetricExpr, type: ValueType, role: string, op: Token): MetricExpr => {
    if (typeOf(e) === type) return e;
    const found = `but ${JSON.stringify(formatMetricExpr(e))} is ${FOUND[typeOf(e)]}`;
    return fail(op.pos, `${role} of "${op.text}" ${where(src, op.pos)} must be ${DESCRIBE[type]}, ${found}`);
  };

  function parseExpr(minPrec: number): MetricExpr {
    let left = parseUnary();
    let compared = false;
    for (;;) {
      const t = peek();
      const info = t.type === 'keyword' || t.type === 'punct' ? BINARY.get(t.text) : undefined;
      if (!info || info.prec < minPrec) return left;
      if (info.kind === 'compare' && compared) {
        fail(t.pos, `unexpected ${show(t)} ${where(src, t.pos)}: comparisons cannot be chained, use "and"`);
      }
      next();
      const type: ValueType = info.kind === 'logic' ? 'boolean' : 'number';
      want(left, type, 'the left side', t);
      const right = want(parseExpr(info.prec + 1), type, 'the right side', t);
      left = { kind: info.kind, op: info.op, left, right, pos: t.pos } as MetricExpr;
      compared = info.kind === 'compare';
    }
  }

  function parseUnary(): MetricExpr {
    const t = peek();
    if (t.text !== 'not' && t.text !== '!' && t.text !== '-') return parsePrimary();
    next();
    enter(t.pos);
    const negate = t.text === '-';
    const operand = negate
      ? want(parseUnary(), 'number', 'the operand', t)
      : want(parseExpr(NOT_PREC + 1), 'boolean', 'the operand', t);
    depth--;
    return { kind: negate ? 'negate' : 'not', operand, pos: t.pos };
  }

  function parsePrimary(): MetricExpr {
    const t = next();
    if (t.type === 'num') return { kind: 'number', value: t.value, pos: t.pos };
    if (t.type === 'name') {
      if (peek().text === '(')
        fail(t.pos, `unknown function "${t.text}" ${where(src, t.pos)}: use abs, min or max`);
      return { kind: 'metric', name: t.text, pos: t.pos };
    }
    if (t.text === 'true' || t.text === 'false')
      return { kind: 'boolean', value: t.text === 'true', pos: t.pos };
    if (t.text === 'abs' || t.text === 'min' || t.text === 'max') return parseCall(t, t.text);
    if (t.text !== '(') return unexpected(t, 'a number, a metric name or "("');
    enter(t.pos);
    const inner = parseExpr(0);
    const close = next();
    if (close.text !== ')') unexpected(close, 'an operator or ")"');
    depth--;
    return inner;
  }

  function parseCall(t: Token, fn: FunctionName): MetricExpr {
    const open = next();
    if (open.text !== '(') unexpected(open, `"(" after "${fn}"`);
    enter(t.pos);
    const args: MetricExpr[] = [];
    for (;;) {
      args.push(want(parseExpr(0), 'number', `argument ${args.length + 1}`, t));
      const sep = next();
      if (sep.text === ')') break;
      if (sep.text !== ',') unexpected(sep, 'an operator, "," or ")"');
    }
    depth--;
    if (fn === 'abs' && args.length !== 1) {
      fail(t.pos, `abs takes exactly 1 argument, but was given ${args.length} ${where(src, t.pos)}`);
    }
    return { kind: 'call', fn, args, pos: t.pos };
  }

  const expr = parseExpr(0);
  const end = next();
  if (end.type !== 'end') unexpected(end, 'an operator or end of input');
  if (typeOf(expr) !== 'boolean') {
    const found = `but ${JSON.stringify(formatMetricExpr(expr))} is a number`;
    fail(0, `the expression must be a comparison or true/false (e.g. "auc >= 0.85"), ${found}`);
  }
  return expr;
}

/** The metric names an expression references, sorted and unique. */
export function metricNames(expr: MetricExpr): string[] {
  const names = new Set<string>();
  const visit = (e: MetricExpr): void => {
    if (e.kind === 'metric') names.add(e.name);
    else if (e.kind === 'negate' || e.kind === 'not') visit(e.operand);
    else if (e.kind === 'call') e.args.forEach(visit);
    else if (e.kind !== 'number' && e.kind !== 'boolean') [e.left, e.right].forEach(visit);
  };
  visit(expr);
  return [...names].sort();
}

/** The outcome of checking an expression against recorded metrics. */
export interface MetricVerdict {
  status: 'pass' | 'fail' | 'error';
  /** Referenced metrics that were not recorded, sorted. */
  missing: string[];
  /** The recorded values of the referenced metrics. */
  observed: Record<string, number>;
  message: string;
}

class EvalFault extends Error {}

function num(e: MetricExpr, m: ReadonlyMap<string, number>): number {
  const v = evalNode(e, m);
  if (typeof v !== 'number') throw new EvalFault(`${formatMetricExpr(e)} is not a number`);
  return v;
}

function bool(e: MetricExpr, m: ReadonlyMap<string, number>): boolean {
  const v = evalNode(e, m);
  if (typeof v !== 'boolean') throw new EvalFault(`${formatMetricExpr(e)} is not a comparison`);
  return v;
}

/** Evaluates eagerly (no short-circuit), so an error anywhere in the expression is always reported. */
function evalNode(e: MetricExpr, m: ReadonlyMap<string, number>): number | boolean {
  switch (e.kind) {
    case 'number':
    case 'boolean':
      return e.value;
    case 'metric':
      return m.get(e.name)!;
    case 'negate':
      return -num(e.operand, m);
    case 'not':
      return !bool(e.operand, m);
    case 'logic': {
      const [l, r] = [bool(e.left, m), bool(e.right, m)];
      return e.op === 'and' ? l && r : l || r;
    }
    case 'compare': {
      const [l, r] = [num(e.left, m), num(e.right, m)];
      const ops = { '<': l < r, '<=': l <= r, '>': l > r, '>=': l >= r, '==': l === r, '!=': l !== r };
      return ops[e.op];
    }
    case 'arith': {
      const [l, r] = [num(e.left, m), num(e.right, m)];
      if (e.op === '/' && r === 0) throw new EvalFault(`division by zero in ${formatMetricExpr(e)}`);
      const v = e.op === '+' ? l + r : e.op === '-' ? l - r : e.op === '*' ? l * r : l / r;
      if (!Number.isFinite(v)) throw new EvalFault(`${formatMetricExpr(e)} is not finite (${v})`);
      return v;
    }
    case 'call': {
      const args = e.args.map((a) => num(a, m));
      if (args.length === 0 || (e.fn === 'abs' && args.length !== 1)) throw new EvalFault(`bad ${e.fn} call`);
      return e.fn === 'abs' ? Math.abs(args[0]!) : e.fn === 'min' ? Math.min(...args) : Math.max(...args);
    }
  }
}

/** Check an expression against recorded metrics (looked up by Map only); never throws for bad data. */
export function evaluateMetricExpr(expr: MetricExpr, metrics: ReadonlyMap<string, number>): MetricVerdict {
  const names = metricNames(expr);
  const missing = names.filter((n) => !metrics.has(n));
  const present = names.filter((n) => metrics.has(n));
  const finite = present.filter((n) => Number.isFinite(metrics.get(n)));
  const observed: Record<string, number> = Object.fromEntries(finite.map((n) => [n, metrics.get(n)!]));
  const text = formatMetricExpr(expr);
  const shown = finite.length > 0 ? ` (${finite.map((n) => `${n} = ${metrics.get(n)}`).join(', ')})` : '';
  const error = (message: string): MetricVerdict => ({ status: 'error', missing, observed, message });
  if (missing.length > 0) {
    const [noun, verb] = missing.length === 1 ? ['metric', 'was'] : ['metrics', 'were'];
    return error(`${noun} ${missing.join(', ')} ${verb} not recorded, so ${text} cannot be checked`);
  }
  const bad = present.find((n) => !finite.includes(n));
  if (bad !== undefined) return error(`metric ${bad} is not a finite number (${String(metrics.get(bad))})`);
  try {
    const [status, verb] = bool(expr, metrics)
      ? (['pass', 'passed'] as const)
      : (['fail', 'failed'] as const);
    return { status, missing, observed, message: `${text} ${verb}${shown}` };
  } catch (err) {
    if (!(err instanceof EvalFault)) throw err;
    return error(`could not evaluate ${text}: ${err.message}${shown}`);
  }
}

function precOf(e: MetricExpr): number {
  if (e.kind === 'logic' || e.kind === 'compare' || e.kind === 'arith') return BINARY.get(e.op)!.prec;
  return e.kind === 'not' ? NOT_PREC : e.kind === 'negate' ? NEGATE_PREC : 8;
}

/** Canonical text with minimal parentheses; parsing it gives back an equal AST (ignoring `pos`). */
export function formatMetricExpr(expr: MetricExpr): string {
  const wrap = (e: MetricExpr, min: number): string =>
    precOf(e) < min ? `(${formatMetricExpr(e)})` : formatMetricExpr(e);
  switch (expr.kind) {
    case 'number':
    case 'boolean':
      return String(expr.value);
    case 'metric':
      return expr.name;
    case 'negate':
      return '-' + wrap(expr.operand, expr.operand.kind === 'negate' ? NEGATE_PREC + 1 : NEGATE_PREC);
    case 'not':
      return 'not ' + wrap(expr.operand, expr.operand.kind === 'not' ? NOT_PREC : BINARY.get('+')!.prec);
    case 'call':
      return `${expr.fn}(${expr.args.map((a) => formatMetricExpr(a)).join(', ')})`;
    default: {
      const p = precOf(expr);
      return `${wrap(expr.left, expr.kind === 'compare' ? p + 1 : p)} ${expr.op} ${wrap(expr.right, p + 1)}`;
    }
  }
}
