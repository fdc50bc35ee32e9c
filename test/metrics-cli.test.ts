/** `vt metrics` as a subprocess over a generated store: JSON, piped rows, the terminal view, empty and bad input. */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { valueReport } from '../src/analytics/index.ts';
import type { ValueReport } from '../src/analytics/report.ts';
import { printMetrics } from '../src/cli/metrics-view.ts';
import type { Io } from '../src/cli/output.ts';
import { Engine } from '../src/engine/engine.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { DAY, generateHistory } from './fixtures/value-history.ts';
import { folderStore, ROOT, runVt, TestClock, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const FLOW = join(ROOT, 'test', 'fixtures', 'flow.yaml');
const START = Date.parse('2026-01-05T00:00:00Z');
const NOW = START + 120 * DAY;
const AT = new Date(NOW).toISOString();
const HOSTILE_TEAM = '\u001b[2J\u001b[31mred\u001b[0m\tteam\nline';
const SECTIONS = [
  'target',
  'lead-time',
  'gate',
  'automation',
  'people',
  'cost',
  'cost-project',
  'flow',
  'wip',
  'forecast',
  'trace',
];

/** An in-memory terminal (or pipe) for rendering in-process. */
function fakeIo(isTTY: boolean): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    isTTY,
    env: { COLUMNS: '80' } as NodeJS.ProcessEnv,
    out: (t: string) => {
      io.stdout += t;
    },
    err: (t: string) => {
      io.stderr += t;
    },
  };
  return io;
}

describeOnBackends('vt metrics', () => {
  let dir = '';
  let db = '';
  let store: Store;

  before(async () => {
    dir = tempDir('vt-metrics-');
    db = await folderStore(dir);
    store = await openStore(db, { synchronous: 'NORMAL' });
    const train = parseTrain(readFileSync(FLOW, 'utf8'), FLOW);
    await generateHistory(store, train, dir, {
      projects: 120,
      seed: 5,
      start: START,
      span: 120 * DAY,
      now: NOW,
    });
    // A team whose name is an attack on the terminal.
    const engine = new Engine({ store, io: nodeIo, clock: new TestClock(NOW - DAY) });
    await engine.createProject(
      { id: 'odd', name: 'Odd', team: HOSTILE_TEAM, workspace: dir, train },
      { actor: 'ana' },
    );
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const events = async () => {
    const rows = await store.db
      .selectFrom('events')
      .select(['project_id', 'seq', 'hash'])
      .orderBy('gseq')
      .execute();
    return JSON.stringify(rows);
  };

  test('--json prints the same ValueReport the library computes', async () => {
    const res = await runVt(['--db', db, 'metrics', '--json', '--at', AT], { cwd: dir });
    assert.equal(res.code, 0, res.stderr);
    const got = JSON.parse(res.stdout) as ValueReport;
    assert.deepEqual(got, await valueReport(store.db, { now: new Date(NOW) }));
    assert.equal(got.version, 1);
    assert.deepEqual(
      got.targets.map((t) => t.id),
      [
        'deployment-speed',
        'first-pass-yield',
        'automation',
        'projects-per-person',
        'traceability',
        'signatures',
      ],
    );
    for (const t of got.targets) assert.ok(['met', 'missed', 'unknown'].includes(t.status));
    assert.equal(got.projects.total, 121);
    const team = await runVt(['--db', db, 'metrics', '--json', '--team', 'beta', '--at', AT], { cwd: dir });
    assert.deepEqual(JSON.parse(team.stdout).scope, { kind: 'team', team: 'beta', project: null });
  });

  test('piped: tab-separated rows, the section first, raw numbers, no header, no colour', async () => {
    const res = await runVt(['--db', db, 'metrics', '--at', AT], { cwd: dir, env: { CLICOLOR_FORCE: '0' } });
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stdout, /\u001b/);
    const rows = res.stdout
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t'));
    for (const r of rows) assert.ok(SECTIONS.includes(r[0]!), `unknown section in ${r.join(' | ')}`);
    assert.deepEqual([...new Set(rows.map((r) => r[0]))], SECTIONS);
    const report = await valueReport(store.db, { now: new Date(NOW) });
    const targets = rows.filter((r) => r[0] === 'target');
    assert.deepEqual(
      targets.map((r) => [r[1], r[4]]),
      report.targets.map((t) => [t.id, t.status]),
    );
    const fpy = targets.find((r) => r[1] === 'first-pass-yield')!;
    assert.equal(Number(fpy[2]), report.gate_yield.rate);
    // Cumulative flow in long form: day, phase, count.
    const flow = rows.filter((r) => r[0] === 'flow');
    assert.equal(flow.length, 90 * (report.flow.cumulative.phases.length + 2));
    for (const r of flow) assert.match(`${r[1]} ${r[3]}`, /^\d{4}-\d\d-\d\d \d+$/);
    const forecasts = rows.filter((r) => r[0] === 'forecast');
    assert.equal(forecasts.length, report.forecasts.length);
    for (const r of forecasts) if (r[4]) assert.ok(!Number.isNaN(Date.parse(r[4])), r.join(' '));
    assert.ok(rows.filter((r) => r[0] === 'cost-project').length === report.projects.total);
  });

  test('on a terminal: aligned tables within 80 columns, each promise with a glyph and a word', async () => {
    const report = await valueReport(store.db, { now: new Date(NOW) });
    const io = fakeIo(true);
    printMetrics(io, report, { color: false });
    const lines = io.stdout.split('\n');
    for (const l of lines) assert.ok(l.length <= 80, `${l.length} columns: ${l}`);
    assert.match(io.stdout, /^PROMISE +VALUE +TARGET +STATUS$/m);
    assert.match(io.stdout, /^first-pass gate yield +[\d.]+% +95\.0% +(✓ met|✗ missed)$/m);
    assert.match(io.stdout, /^traceable to evidence +[\d.]+% +100\.0% +(✓ met|✗ missed)$/m);
    assert.match(io.stdout, /^LEAD TIME|^PHASE +VISITS +P50 +P85 +P95 +MAX$/m);
    // Long lists are cut on a terminal, with a hint on stderr, never on stdout.
    assert.match(io.stderr, /… \d+ more \(--wide, --json or a pipe for all\)/);
    assert.doesNotMatch(io.stdout, /more \(--wide/);
    const wide = fakeIo(true);
    printMetrics(wide, report, { color: false, wide: true });
    assert.equal(wide.stderr, '');
    assert.ok(wide.stdout.split('\n').length > lines.length);
  });

  test('a hostile team name reaches neither the terminal nor the pipe as control characters', async () => {
    const piped = await runVt(['--db', db, 'metrics', '--team', HOSTILE_TEAM, '--at', AT], { cwd: dir });
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stdout, /\u001b/);
    const report = await valueReport(store.db, { team: HOSTILE_TEAM, now: new Date(NOW) });
    assert.equal(report.projects.total, 1);
    const io = fakeIo(true);
    printMetrics(io, report, { color: false });
    assert.doesNotMatch(io.stdout, /[\u001b\u0000-\u0008\u000b-\u001f]/);
    assert.match(io.stdout, /^Value · team red team line · as of/m);
  });

  test('an empty store says so on stderr and prints nothing on stdout', async () => {
    const empty = tempDir('vt-metrics-empty-');
    try {
      const file = await folderStore(empty);
      const res = await runVt(['--db', file, 'metrics'], { cwd: empty });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, '');
      assert.match(res.stderr, /no projects yet: vt project create NAME/);
      const j = await runVt(['--db', file, 'metrics', '--json'], { cwd: empty });
      const r = JSON.parse(j.stdout) as ValueReport;
      assert.equal(r.projects.total, 0);
      assert.equal(r.forecasts.length, 0);
      assert.ok(r.targets.every((t) => t.status === 'unknown'));
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('bad input: a clear error, a stable code, exit 2, and the store untouched', async () => {
    const before = await events();
    const cases: [string[], string][] = [
      [['--project', 'nope'], 'NOT_FOUND'],
      [['--team', 'nobody'], 'NOT_FOUND'],
      [['--project', 'odd', '--team', 'beta'], 'USAGE'],
      [['--window', '0'], 'BAD_INPUT'],
      [['--window', '1e9x'], 'BAD_INPUT'],
      [['--flow-days', '-3'], 'BAD_INPUT'],
      [['--baseline-days', 'NaN'], 'BAD_INPUT'],
      [['--at', 'yesterday'], 'BAD_INPUT'],
    ];
    for (const [args, code] of cases) {
      const res = await runVt(['--db', db, 'metrics', '--json', ...args], { cwd: dir });
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stdout, '');
      assert.equal(JSON.parse(res.stderr).error.code, code, args.join(' '));
    }
    const plain = await runVt(['--db', db, 'metrics', '--project', 'nope'], { cwd: dir });
    assert.match(plain.stderr, /✗ no project "nope"\n {2}See: vt project list/);
    assert.equal(await events(), before);
  });

  test('--help leads with examples, and vt --help lists the command', async () => {
    const res = await runVt(['metrics', '--help'], { cwd: dir });
    assert.equal(res.code, 0);
    assert.match(res.stdout, /Examples:\n {2}vt metrics /);
    assert.match(res.stdout, /--team <team>/);
    const top = await runVt(['--help'], { cwd: dir });
    assert.match(top.stdout, /\n {2}metrics /);
  });
});
