import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { VtError } from '../src/errors.ts';
import { lintTrain } from '../src/train/lint.ts';
import { parseTrain } from '../src/train/loader.ts';
import { folderStore, MINI, ROOT, runVt, tempDir } from './helpers.ts';
import { describeOnBackends, storeContents } from './pg.ts';

const mini = readFileSync(MINI, 'utf8');

/** Malformed trains: [what is wrong, text, expected line, expected message]. */
const MALFORMED: [string, string, number, RegExp][] = [
  ['YAML syntax: bad indentation', mini.replace('name: mini', 'name: mini\n  oops: [1, 2'), 3, /./],
  ['a duplicate key', mini.replace('name: mini', 'name: mini\nname: again'), 4, /unique/i],
  [
    'an unknown field',
    mini.replace('    name: Build', '    name: Build\n    colour: red'),
    35,
    /unknown field "colour"/,
  ],
  [
    'a wrong stage',
    mini.replace('stage: delivery', 'stage: shipping'),
    35,
    /must be one of "pre-engagement", "delivery", "operations"/,
  ],
  [
    'an unknown gate kind',
    mini.replace('kind: checklist }\n        - { id: files', 'kind: checklists }\n        - { id: files'),
    29,
    /unknown kind/,
  ],
  ['a missing phase name', mini.replace('    name: Triage\n', ''), 17, /name: is required/],
  ['a bad id', mini.replace('id: triage', 'id: Triage!'), 17, /an id: lowercase/],
  ['a wrong version', mini.replace('version: 1', 'version: 2'), 2, /version: must be one of 1/],
  [
    'a string where a list belongs',
    mini.replace('metrics: [auc]', 'metrics: auc'),
    49,
    /expected array, not string/,
  ],
  [
    'a negative approval count',
    mini.replace('role: lead }', 'role: lead, count: -1 }'),
    31,
    /count: must be at least 1/,
  ],
  ['a tab-indented block', mini.replace('roles:\n  - {', 'roles:\n\t- {'), 5, /./],
  [
    'a command gate with a string command',
    mini.replace(/ {8}- \{ id: script.*\n/, '        - { id: script, kind: command, run: "node -e 1" }\n'),
    74,
    /run: expected array, not string/,
  ],
];

describe('train loading', () => {
  for (const [what, text, line, message] of MALFORMED) {
    it(`rejects ${what} with file:line:column`, () => {
      assert.throws(
        () => parseTrain(text, 'vt.yaml'),
        (e: unknown) => {
          assert.ok(e instanceof VtError);
          assert.equal(e.code, 'TRAIN_INVALID');
          const lines = e.message.split('\n').slice(1);
          const hit = lines.find((l) => l.startsWith(`vt.yaml:${line}:`) && message.test(l));
          assert.ok(hit, `expected line ${line} matching ${message} in:\n${e.message}`);
          return true;
        },
      );
    });
  }

  it('the built-in template lints clean and has 18 phases, 7 roles and 9 modes', () => {
    const file = join(ROOT, 'templates', 'ml-value-train.yaml');
    const loaded = parseTrain(readFileSync(file, 'utf8'), file);
    assert.deepEqual(lintTrain(loaded), []);
    assert.equal(loaded.train.phases.length, 18);
    assert.equal(loaded.train.roles.length, 7);
    assert.equal(loaded.train.modes.length, 9);
    assert.ok(
      loaded.train.phases.every((p) => p.checklist.some((c) => c.required) && p.gates.exit.length > 0),
    );
  });

  it('the hash ignores formatting and comments', () => {
    const a = parseTrain(mini).hash;
    const b = parseTrain(`# a comment\n${mini.replace(/\n/g, '\n\n')}`).hash;
    assert.equal(a, b);
    assert.notEqual(a, parseTrain(mini.replace('name: Ship', 'name: Shipping')).hash);
  });
});

describeOnBackends('a malformed train and the store', () => {
  it('the CLI exits 2 on a malformed train and leaves the store unchanged', async () => {
    const dir = tempDir();
    cpSync(MINI, join(dir, 'vt.yaml'));
    const created = await runVt(['project', 'create', 'First', '--as', 'lead-1'], { cwd: dir });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, 'first\n');
    const target = await folderStore(dir);
    // Every byte of the store: its file (and WAL), or every row of every table on PostgreSQL.
    const digest = async () => {
      const h = createHash('sha256');
      for (const [where, bytes] of await storeContents(target)) h.update(where).update(bytes);
      return h.digest('hex');
    };
    const before = await digest();
    for (const [, text] of MALFORMED.slice(0, 10)) {
      writeFileSync(join(dir, 'vt.yaml'), text);
      const r = await runVt(['project', 'create', 'Second', '--as', 'lead-1'], { cwd: dir });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /vt\.yaml:\d+:\d+: /);
      const lint = await runVt(['lint'], { cwd: dir });
      assert.equal(lint.code, 2);
    }
    assert.equal(await digest(), before);
  });
});

describe('train linting', () => {
  const lint = (text: string) =>
    lintTrain(parseTrain(text, 'vt.yaml')).map((p) => `${p.line}:${p.field}: ${p.message}`);
  const cases: [string, string, RegExp][] = [
    [
      'a transition to an unknown phase',
      mini.replace('next: ship', 'next: shipp'),
      /unknown phase "shipp" \(did you mean "ship"\?\)/,
    ],
    [
      'an unreachable phase',
      mini
        .replace('next: build\n', 'next: check\n')
        .replace('    on_fail: build\n', '')
        .replace('    routes:\n      - { when: psi > 0.2, to: build, reason: drift }\n', ''),
      /"build" is unreachable/,
    ],
    [
      'a loop with no way out',
      mini.replace('next: ship', 'next: build'),
      /"check" is in a loop with no way out/,
    ],
    [
      'a train with no end and no operations to retire from',
      mini.replace('next: null', 'next: triage').replace('stage: operations', 'stage: delivery'),
      /no phase ends the train/,
    ],
    [
      'a gate naming an unknown artifact',
      mini.replace('{ id: files, kind: artifacts }', '{ id: files, kind: artifacts, artifacts: [breif] }'),
      /unknown artifact "breif"/,
    ],
    [
      'a gate naming an unknown metric',
      mini.replace('expr: auc >= 0.8', 'expr: aux >= 0.8'),
      /unknown metric "aux"/,
    ],
    ['a gate naming an unknown role', mini.replace('role: lead }', 'role: boss }'), /unknown role "boss"/],
    ['an unknown owner', mini.replace('owner: lab', 'owner: labs'), /unknown role "labs"/],
    ['a duplicate phase id', mini.replace('id: ship', 'id: check'), /duplicate phase id "check"/],
    [
      'a duplicate gate id',
      mini.replace('{ id: files, kind: artifacts }', '{ id: done, kind: artifacts }'),
      /duplicate gate id "done"/,
    ],
    ['a route with a bad expression', mini.replace('when: psi > 0.2', 'when: psi >> 0.2'), /column/],
    [
      'a deployment phase that is not a phase',
      mini.replace('name: mini\n', 'name: mini\ndeployment: shipp\n'),
      /^\d+:deployment: unknown phase "shipp" \(did you mean "ship"\?\)/,
    ],
    [
      'an unknown checklist item in a gate',
      mini.replace(
        '{ id: done, kind: checklist }\n    next: null',
        '{ id: done, kind: checklist, items: [shiped] }\n    next: null',
      ),
      /unknown checklist item "shiped"/,
    ],
  ];
  for (const [what, text, re] of cases) {
    it(`finds ${what}`, () => {
      const problems = lint(text);
      assert.ok(
        problems.some((p) => re.test(p)),
        problems.join('\n') || '(no problems)',
      );
    });
  }

  it('errors are always typed and located, whatever the input (fast-check)', () => {
    const edits = fc.array(
      fc.record({
        at: fc.nat(),
        cut: fc.nat({ max: 12 }),
        insert: fc.constantFrom('', ':', '-', ' ', '\n', '[', '{', 'x', '"', '  ', '\t', 'null', '1'),
      }),
      { minLength: 1, maxLength: 4 },
    );
    fc.assert(
      fc.property(edits, (list) => {
        let text = mini;
        for (const e of list) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.cut);
        }
        try {
          lintTrain(parseTrain(text, 'vt.yaml'));
        } catch (err) {
          assert.ok(err instanceof VtError, String(err));
          assert.equal(err.code, 'TRAIN_INVALID');
          for (const l of err.message
            .split('\n')
            .slice(1)
            .filter((x) => !x.startsWith('…')))
            assert.match(l, /^vt\.yaml:\d+:\d+: /);
        }
      }),
      { numRuns: 300 },
    );
  });
});
