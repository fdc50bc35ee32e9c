import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { VtError } from '../src/errors.ts';
import {
  evaluateMetricExpr,
  formatMetricExpr,
  type MetricExpr,
  metricNames,
  parseMetricExpr,
} from '../src/expr/metric-expr.ts';

/** Fully parenthesised prefix form, to make the parse tree visible. */
function sexpr(e: MetricExpr): string {
  switch (e.kind) {
    case 'number':
    case 'boolean':
      return String(e.value);
    case 'metric':
      return e.name;
    case 'negate':
      return `(neg ${sexpr(e.operand)})`;
    case 'not':
      return `(not ${sexpr(e.operand)})`;
    case 'call':
      return `(${e.fn} ${e.args.map(sexpr).join(' ')})`;
    default:
      return `(${e.op} ${sexpr(e.left)} ${sexpr(e.right)})`;
  }
}

/** A copy of the tree with every `pos` set to 0. */
function stripPos(e: MetricExpr): MetricExpr {
  switch (e.kind) {
    case 'negate':
    case 'not':
      return { ...e, operand: stripPos(e.operand), pos: 0 };
    case 'arith':
    case 'compare':
    case 'logic':
      return { ...e, left: stripPos(e.left), right: stripPos(e.right), pos: 0 };
    case 'call':
      return { ...e, args: e.args.map(stripPos), pos: 0 };
    default:
      return { ...e, pos: 0 };
  }
}

const tree = (src: string): string => sexpr(parseMetricExpr(src));

/** Runs `fn` and returns the VtError it throws, failing the test on anything else. */
function parseError(src: string): VtError {
  try {
    parseMetricExpr(src);
  } catch (err) {
    assert.ok(err instanceof VtError, `expected a VtError, got ${String(err)}`);
    assert.equal(err.code, 'BAD_INPUT');
    return err;
  }
  assert.fail(`expected ${JSON.stringify(src)} not to parse`);
}

function check(src: string, metrics: Record<string, number>) {
  return evaluateMetricExpr(parseMetricExpr(src), new Map(Object.entries(metrics)));
}

describe('parseMetricExpr: precedence and associativity', () => {
  it('binds * / tighter than + -, and both tighter than comparisons', () => {
    assert.equal(tree('a + b * c > 1'), '(> (+ a (* b c)) 1)');
    assert.equal(tree('a * b + c / d <= e - f'), '(<= (+ (* a b) (/ c d)) (- e f))');
  });
  it('makes arithmetic and logic left-associative', () => {
    assert.equal(tree('a - b - c == 0'), '(== (- (- a b) c) 0)');
    assert.equal(tree('a / b / c != 0'), '(!= (/ (/ a b) c) 0)');
    assert.equal(tree('true and false and true'), '(and (and true false) true)');
    assert.equal(tree('true or false || true'), '(or (or true false) true)');
  });
  it('binds and tighter than or, and not tighter than and but looser than comparisons', () => {
    assert.equal(tree('a > 1 or b > 2 and c > 3'), '(or (> a 1) (and (> b 2) (> c 3)))');
    assert.equal(tree('not a > 1 and b < 2'), '(and (not (> a 1)) (< b 2))');
    assert.equal(tree('!a > 1 && !!true'), '(and (not (> a 1)) (not (not true)))');
  });
  it('binds unary minus tightest, and parentheses override everything', () => {
    assert.equal(tree('-a * b > -1'), '(> (* (neg a) b) (neg 1))');
    assert.equal(tree('a - -b >= 0'), '(>= (- a (neg b)) 0)');
    assert.equal(tree('(a + b) * c > 1'), '(> (* (+ a b) c) 1)');
    assert.equal(tree('not (a > 1 or b > 1)'), '(not (or (> a 1) (> b 1)))');
  });
  it('parses numbers, names, keywords and functions', () => {
    assert.equal(tree('model.auc >= 1e-3'), '(>= model.auc 0.001)');
    assert.equal(tree('x_1 < 2.5E+2'), '(< x_1 250)');
    assert.equal(tree('min(a, b, 3) < max(abs(-c), 0)'), '(< (min a b 3) (max (abs (neg c)) 0))');
    assert.equal(tree('min(a) < 1'), '(< (min a) 1)');
    assert.equal(tree(' \t\n true \r\n'), 'true');
  });
  it('records 0-based positions', () => {
    const e = parseMetricExpr('auc >= 0.85');
    assert.equal(e.kind === 'compare' && [e.pos, e.left.pos, e.right.pos].join(), '4,0,7');
  });
});

describe('parseMetricExpr: errors', () => {
  const cases: [string, string, number, RegExp][] = [
    [
      'unexpected token',
      'auc >= )',
      8,
      /^unexpected "\)" at column 8 of "auc >= \)": expected a number, a metric name or "\("$/,
    ],
    ['unexpected end', 'auc >=', 7, /^unexpected end of input at column 7 .*expected a number/],
    ['empty input', '  ', 1, /the expression is empty/],
    [
      'trailing token',
      'auc > 1 loss',
      9,
      /unexpected "loss" at column 9 .*expected an operator or end of input/,
    ],
    [
      'unclosed parenthesis',
      '(a > 1',
      7,
      /unexpected end of input at column 7 .*expected an operator or "\)"/,
    ],
    ['unknown character', 'auc # 1', 5, /unknown character "#" at column 5/],
    ['single =', 'auc = 1', 5, /unknown character "=" at column 5 .*did you mean "=="/],
    ['single &', 'a > 1 & b > 1', 7, /did you mean "&&"/],
    ['leading-dot number', 'a > .5', 5, /numbers need a leading digit/],
    ['non-ASCII character', 'auc ≥ 1', 5, /unknown character "≥" at column 5/],
    ['malformed number', 'a > 1.2.3', 5, /malformed number "1.2.3" at column 5/],
    ['hex number', 'a > 0x1F', 5, /malformed number "0x1F"/],
    ['dangling exponent', 'a > 1e', 5, /malformed number "1e"/],
    ['number too large', 'a > 1e999', 5, /number "1e999" at column 5 .*too large/],
    ['chained comparison', 'a < b < c', 7, /unexpected "<" at column 7 .*cannot be chained/],
    ['chained equality', 'a == b != c', 8, /cannot be chained/],
    ['unknown function', 'a > foo(1)', 5, /unknown function "foo" at column 5 .*abs, min or max/],
    ['function without (', 'abs > 1', 5, /unexpected ">" at column 5 .*expected "\(" after "abs"/],
    ['abs arity', 'abs(a, b) > 1', 1, /abs takes exactly 1 argument, but was given 2 at column 1/],
    ['empty call', 'min() > 1', 5, /unexpected "\)" at column 5/],
    ['keyword as a metric', 'and > 1', 1, /unexpected "and" at column 1/],
    [
      'top level is a number',
      'auc + 1',
      1,
      /^the expression must be a comparison or true\/false .*"auc \+ 1" is a number/,
    ],
    [
      'and on numbers',
      'auc and true',
      5,
      /the left side of "and" at column 5 .*must be a comparison or true\/false, but "auc" is a number/,
    ],
    ['or on numbers', 'true || 1', 6, /the right side of "\|\|" at column 6 .*"1" is a number/],
    [
      'arithmetic on booleans',
      '(a < b) + 1 > 2',
      9,
      /the left side of "\+" at column 9 .*must be a number, but "a < b" is a boolean/,
    ],
    ['comparing booleans', 'true == false', 6, /the left side of "==" at column 6 .*must be a number/],
    ['not on a number', 'not auc', 1, /the operand of "not" at column 1 .*"auc" is a number/],
    ['minus on a boolean', '-true > 1', 1, /the operand of "-" at column 1 .*must be a number/],
    ['boolean argument', 'max(a, b > 1) > 0', 1, /argument 2 of "max" at column 1 .*must be a number/],
    ['too long', `a > ${'1'.repeat(1000)}`, 1001, /is 1004 characters long; the limit is 1000/],
    [
      'nested too deep',
      `${'('.repeat(65)}a > 1${')'.repeat(65)}`,
      65,
      /nesting deeper than 64 levels at column 65/,
    ],
    ['not chain too deep', `${'not '.repeat(65)}true`, 257, /nesting deeper than 64/],
  ];
  for (const [kind, src, column, message] of cases) {
    it(`reports ${kind} at column ${column}`, () => {
      const err = parseError(src);
      assert.match(err.message, message);
      assert.deepEqual(err.details, { expr: src, position: column - 1, column });
    });
  }
  it('accepts nesting of exactly 64 levels', () => {
    assert.equal(tree(`${'('.repeat(63)}a > 1${')'.repeat(63)}`), '(> a 1)');
    assert.equal(tree(`${'not '.repeat(64)}true`).length, 'true'.length + 6 * 64);
  });
  it('rejects a non-string without crashing', () => {
    assert.equal(parseError(42 as unknown as string).details?.column, 1);
  });
});

describe('evaluateMetricExpr', () => {
  it('passes and fails with the expression and observed values in the message', () => {
    assert.deepEqual(check('auc >= 0.85', { auc: 0.91, other: 1 }), {
      status: 'pass',
      missing: [],
      observed: { auc: 0.91 },
      message: 'auc >= 0.85 passed (auc = 0.91)',
    });
    assert.deepEqual(check('auc >= 0.85', { auc: 0.83 }), {
      status: 'fail',
      missing: [],
      observed: { auc: 0.83 },
      message: 'auc >= 0.85 failed (auc = 0.83)',
    });
    const v = check('auc>=0.85&&latency_p95_ms<50', { latency_p95_ms: 42, auc: 0.9 });
    assert.equal(v.message, 'auc >= 0.85 and latency_p95_ms < 50 passed (auc = 0.9, latency_p95_ms = 42)');
    assert.equal(check('true', {}).message, 'true passed');
  });
  it('computes arithmetic and functions', () => {
    assert.equal(check('abs(a - b) <= 0.01', { a: 0.5, b: 0.505 }).status, 'pass');
    assert.equal(check('min(a, b, c) == -3 and max(a, b, c) == 7', { a: 7, b: -3, c: 0 }).status, 'pass');
    assert.equal(check('(a + b) / 2 > 1', { a: 1, b: 1 }).status, 'fail');
    assert.equal(check('not (a > 1) or false', { a: 0 }).status, 'pass');
  });
  it('errors when metrics are missing, naming them', () => {
    assert.deepEqual(check('auc >= 0.85', {}), {
      status: 'error',
      missing: ['auc'],
      observed: {},
      message: 'metric auc was not recorded, so auc >= 0.85 cannot be checked',
    });
    const v = check('loss < 1 and auc > 0.5 and f1 > 0', { f1: 0.7 });
    assert.equal(v.status, 'error');
    assert.deepEqual(v.missing, ['auc', 'loss']);
    assert.deepEqual(v.observed, { f1: 0.7 });
    assert.match(v.message, /^metrics auc, loss were not recorded/);
  });
  it('errors on division by zero and non-finite results, even on the side that would short-circuit', () => {
    const v = check('a / b > 1', { a: 1, b: 0 });
    assert.equal(v.status, 'error');
    assert.equal(v.message, 'could not evaluate a / b > 1: division by zero in a / b (a = 1, b = 0)');
    assert.equal(check('true or a / 0 > 1', { a: 1 }).status, 'error');
    assert.match(check('a * a > 0', { a: 1e200 }).message, /a \* a is not finite/);
    assert.match(check('a > 0', { a: Number.NaN }).message, /metric a is not a finite number \(NaN\)/);
    assert.equal(check('a > 0', { a: Number.POSITIVE_INFINITY }).status, 'error');
  });
  it('treats constructor, __proto__ and toString as ordinary, unrecorded metrics', () => {
    const expr = parseMetricExpr('constructor > 0 or __proto__ > 0 or toString > 0 or hasOwnProperty > 0');
    assert.deepEqual(metricNames(expr), ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    const v = evaluateMetricExpr(expr, new Map());
    assert.equal(v.status, 'error');
    assert.deepEqual(v.missing, ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    assert.match(v.message, /^metrics __proto__, constructor, hasOwnProperty, toString were not recorded/);
    const recorded = evaluateMetricExpr(parseMetricExpr('__proto__ > 1'), new Map([['__proto__', 2]]));
    assert.equal(recorded.status, 'pass');
    assert.equal(Object.getPrototypeOf(recorded.observed), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(recorded.observed, '__proto__')?.value, 2);
  });
});

describe('metricNames and formatMetricExpr', () => {
  it('lists referenced names sorted and unique, without keywords', () => {
    const e = parseMetricExpr('b > a and min(a, c) < abs(b) or not true');
    assert.deepEqual(metricNames(e), ['a', 'b', 'c']);
  });
  it('prints canonical text with minimal parentheses', () => {
    const cases: [string, string][] = [
      ['(a)+((b*c))>1', 'a + b * c > 1'],
      ['a-(b-c)>0', 'a - (b - c) > 0'],
      ['(a-b)-c>0', 'a - b - c > 0'],
      ['!(a<b) && (true || false)', 'not (a < b) and (true or false)'],
      ['--a > 0', '-(-a) > 0'],
      ['-(a+b) > 1e21', '-(a + b) > 1e+21'],
      ['not not true', 'not not true'],
      ['max(a,(b)) != 0.5', 'max(a, b) != 0.5'],
    ];
    for (const [src, canonical] of cases) assert.equal(formatMetricExpr(parseMetricExpr(src)), canonical);
  });
});

// ---- property tests ----

const NAMES = ['auc', 'loss', 'model.auc', 'latency_p95_ms', 'x', 'constructor', '__proto__', 'toString'];
type Ref = number | boolean | 'error';

/** An independent reference evaluator: eager, errors on /0 and on any non-finite intermediate. */
function reference(e: MetricExpr, m: Map<string, number>): Ref {
  const go = (n: MetricExpr): number | boolean => {
    const sub = (x: MetricExpr) => go(x) as number;
    switch (n.kind) {
      case 'number':
      case 'boolean':
        return n.value;
      case 'metric': {
        const v = m.get(n.name);
        if (v === undefined || !Number.isFinite(v)) throw new Error('bad metric');
        return v;
      }
      case 'negate':
        return -sub(n.operand);
      case 'not':
        return !go(n.operand);
      case 'logic': {
        const l = go(n.left);
        const r = go(n.right);
        return n.op === 'and' ? l === true && r === true : l === true || r === true;
      }
      case 'compare': {
        const [l, r] = [sub(n.left), sub(n.right)];
        return { '<': l < r, '<=': l <= r, '>': l > r, '>=': l >= r, '==': l === r, '!=': l !== r }[n.op];
      }
      case 'arith': {
        const [l, r] = [sub(n.left), sub(n.right)];
        if (n.op === '/' && r === 0) throw new Error('div0');
        const v = { '+': l + r, '-': l - r, '*': l * r, '/': l / r }[n.op];
        if (!Number.isFinite(v)) throw new Error('overflow');
        return v;
      }
      case 'call': {
        const args = n.args.map(sub);
        return n.fn === 'abs' ? Math.abs(args[0]!) : n.fn === 'min' ? Math.min(...args) : Math.max(...args);
      }
    }
  };
  try {
    return go(e);
  } catch {
    return 'error';
  }
}

const literal = fc
  .oneof(
    fc.constantFrom(0, 1, 2, 0.5, 0.85, 1e-3, 1e21, 5e-324),
    fc.integer({ min: 0, max: 1000 }),
    fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }),
  )
  .map((value): MetricExpr => ({ kind: 'number', value: value === 0 ? 0 : value, pos: 0 }));
const D = { maxDepth: 4, depthIdentifier: 'expr' };
const arbs = fc.letrec<{ num: MetricExpr; bool: MetricExpr }>((tie) => ({
  num: fc.oneof(
    D,
    literal,
    fc.constantFrom(...NAMES).map((name): MetricExpr => ({ kind: 'metric', name, pos: 0 })),
    tie('num').map((operand): MetricExpr => ({ kind: 'negate', operand, pos: 0 })),
    fc
      .tuple(fc.constantFrom('+', '-', '*', '/' as const), tie('num'), tie('num'))
      .map(([op, left, right]): MetricExpr => ({ kind: 'arith', op, left, right, pos: 0 })),
    tie('num').map((a): MetricExpr => ({ kind: 'call', fn: 'abs', args: [a], pos: 0 })),
    fc
      .tuple(fc.constantFrom('min', 'max' as const), fc.array(tie('num'), { minLength: 1, maxLength: 3 }))
      .map(([fn, args]): MetricExpr => ({ kind: 'call', fn, args, pos: 0 })),
  ),
  bool: fc.oneof(
    D,
    fc.boolean().map((value): MetricExpr => ({ kind: 'boolean', value, pos: 0 })),
    fc
      .tuple(fc.constantFrom('<', '<=', '>', '>=', '==', '!=' as const), tie('num'), tie('num'))
      .map(([op, left, right]): MetricExpr => ({ kind: 'compare', op, left, right, pos: 0 })),
    fc
      .tuple(fc.constantFrom('and', 'or' as const), tie('bool'), tie('bool'))
      .map(([op, left, right]): MetricExpr => ({ kind: 'logic', op, left, right, pos: 0 })),
    tie('bool').map((operand): MetricExpr => ({ kind: 'not', operand, pos: 0 })),
  ),
}));
const metricValues = fc
  .array(
    fc.option(
      fc.oneof(
        fc.integer({ min: -3, max: 3 }),
        fc.double({ min: -1e3, max: 1e3, noNaN: true }),
        fc.constant(1e300),
      ),
      { nil: undefined, freq: 4 },
    ),
    { minLength: NAMES.length, maxLength: NAMES.length },
  )
  .map(
    (values) => new Map(NAMES.flatMap((n, i) => (values[i] === undefined ? [] : [[n, values[i]] as const]))),
  );

const TOKENS = [
  'auc',
  'model.auc',
  ' ',
  '(',
  ')',
  ',',
  'and',
  'or',
  'not',
  '!',
  '&&',
  '||',
  '<',
  '<=',
  '>',
  '>=',
  '==',
  '!=',
  '=',
  '+',
  '-',
  '*',
  '/',
  '1',
  '0.5',
  '1e-3',
  '1e',
  '.',
  'true',
  'false',
  'abs',
  'min',
  'max',
  '#',
  '&',
  'x9',
];

/** Either a well-formed AST or a VtError BAD_INPUT whose column lies within (or just past) the input. */
function parsesOrFailsCleanly(src: string): void {
  let expr: MetricExpr;
  try {
    expr = parseMetricExpr(src);
  } catch (err) {
    assert.ok(err instanceof VtError, `not a VtError: ${String(err)}`);
    assert.equal(err.code, 'BAD_INPUT');
    const column = err.details?.column;
    assert.ok(typeof column === 'number' && Number.isInteger(column), 'column is an integer');
    assert.ok(column >= 1 && column <= src.length + 1, `column ${column} within ${src.length} chars`);
    assert.equal(err.details?.position, column - 1);
    assert.equal(err.details?.expr, src);
    return;
  }
  const again = parseMetricExpr(formatMetricExpr(expr));
  assert.deepEqual(stripPos(again), stripPos(expr));
  evaluateMetricExpr(expr, new Map());
}

describe('property tests', () => {
  it('(a) arbitrary strings parse or throw BAD_INPUT with a column', () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), parsesOrFailsCleanly), { numRuns: 200 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), parsesOrFailsCleanly), {
      numRuns: 200,
    });
    const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 });
    fc.assert(
      fc.property(
        tokenSoup.map((t) => t.join('')),
        parsesOrFailsCleanly,
      ),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(
        tokenSoup.map((t) => t.join(' ')),
        parsesOrFailsCleanly,
      ),
      { numRuns: 200 },
    );
  });

  it('(b) format -> parse round-trips well-typed ASTs and evaluates like the reference', () => {
    fc.assert(
      fc.property(arbs.bool, metricValues, (expr, metrics) => {
        const text = formatMetricExpr(expr);
        fc.pre(text.length <= 1000);
        const parsed = parseMetricExpr(text);
        assert.deepEqual(stripPos(parsed), expr);
        const verdict = evaluateMetricExpr(parsed, metrics);
        const expected = reference(expr, metrics);
        assert.equal(verdict.status, expected === 'error' ? 'error' : expected ? 'pass' : 'fail', text);
        assert.deepEqual(
          verdict.missing,
          [...new Set(metricNames(expr))].filter((n) => !metrics.has(n)).sort(),
        );
        if (verdict.status !== 'error') assert.ok(verdict.message.startsWith(`${text} `));
      }),
      { numRuns: 200 },
    );
  });

  it('(c) 1000-char pathological inputs finish quickly and error cleanly', () => {
    const fill = (unit: string) => unit.repeat(Math.ceil(1000 / unit.length)).slice(0, 1000);
    const pathological = [
      '(',
      ')',
      '-',
      '!',
      'not ',
      'not(',
      'min(',
      'abs(-',
      'a<',
      'a+',
      '-(',
      '((a>1)or',
      '1e1',
      '9',
      'a.',
      '&&',
    ].map(fill);
    const soup = fc
      .array(fc.constantFrom('(', ')', 'not ', '-', '!', 'a', '<', '+', 'min(', ','), {
        minLength: 1,
        maxLength: 20,
      })
      .map((units) => fill(units.join('')));
    const bounded = (src: string) => {
      const start = performance.now();
      parsesOrFailsCleanly(src);
      assert.ok(performance.now() - start < 1000, `slow on ${src.slice(0, 40)}…`);
    };
    pathological.forEach((src) => {
      assert.equal(src.length, 1000);
      bounded(src);
      assert.throws(() => parseMetricExpr(src), VtError);
    });
    fc.assert(fc.property(soup, bounded), { numRuns: 200 });
    const longChain = `${'a + '.repeat(245)}a > 1`;
    assert.ok(longChain.length <= 1000);
    assert.equal(check(longChain, { a: 1 }).status, 'pass');
    assert.equal(formatMetricExpr(parseMetricExpr(longChain)), longChain);
  });
});
