// `vt demo`: the penguins example carried through all 18 phases by the real CLI, in a subprocess.
// Proves the "main job" criteria: a fresh run reaches operations and ends operating, waiting for its
// next scheduled monitoring window; its audit trail and artifacts verify; the drift loop is taken and
// closed, and a window without drift returns to monitoring; a run SIGKILLed mid-way resumes to the
// same result; and the demo never touches a folder it did not set up.
import assert from 'node:assert/strict';
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { rocAuc } from '../examples/penguins/lib/auc.ts';
import { type DataUseManifest, findLeaks } from '../examples/penguins/lib/data-use.ts';
import { cohortsOf, generateWindow, heldBackBirds } from '../examples/penguins/lib/feed.ts';
import { readPenguins } from '../examples/penguins/lib/io.ts';
import { modelFromJson, predict } from '../examples/penguins/lib/model.ts';
import { label } from '../examples/penguins/lib/penguins.ts';
import { routeBound } from '../examples/penguins/lib/train-file.ts';
import type { StepContext } from '../examples/penguins/lib/workspace.ts';
import { verifyStore } from '../src/audit/audit.ts';
import { readCommitted, repoOf } from '../src/io/git.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { type RunResult, runVt, tempDir, testTmpEnv, VT_BIN } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

const PROJECT = 'penguins';
/** Where the demo makes its operator's signing key: a folder of the test's, not the machine's home. */
const KEYS_HOME = tempDir('vt-demo-xdg-');
const DEMO_ENV = { XDG_CONFIG_HOME: KEYS_HOME };
const TIMEOUT = { timeout: 300_000 };

interface DemoSummary {
  project: string;
  status: string;
  phases_done: number;
  phases: number;
  phase_visits: number;
  gates_passed_first_time: number;
  rework_loops: string[];
  visits: { phase: string; visit: number; ticked: number }[];
  windows: { window: number; psi: number; to: string | null; drift: boolean; path: string[] }[];
  next: { phase: string; window?: number; due_at: string; schedule: string } | null;
  metrics: Record<string, number>;
  wall_time_s: number;
  artifacts: string;
  audit: string;
}

interface Step {
  from: string;
  to: string | null;
  kind: string;
}

/** The summary of `vt demo --json`: stdout is NDJSON (progress events, then the summary last). */
function summaryOf(res: RunResult): DemoSummary {
  const lines = res.stdout.split('\n').filter((l) => l.trim());
  const last = lines.at(-1);
  assert.ok(last, `no JSON on stdout; stderr:\n${res.stderr}`);
  const summary = JSON.parse(last) as DemoSummary;
  assert.equal(summary.project, PROJECT, `the last stdout line is not the summary: ${last}`);
  return summary;
}

function dbOf(dir: string): string {
  return join(dir, '.vt', 'vt.db');
}

async function withStore<T>(dir: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(dbOf(dir), { synchronous: 'NORMAL' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function transitionsOf(store: Store) {
  return store.db
    .selectFrom('transitions')
    .select(['n', 'from_phase', 'to_phase', 'kind', 'reason'])
    .where('project_id', '=', PROJECT)
    .orderBy('n')
    .execute();
}

function steps(rows: { from_phase: string; to_phase: string | null; kind: string }[]): Step[] {
  return rows.map((r) => ({ from: r.from_phase, to: r.to_phase, kind: r.kind }));
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Every file under `dir` with its content hash, to prove a folder was left untouched. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = sha256(p);
    }
  };
  walk(dir);
  return out;
}

const unpacked: string[] = [];
after(async () => {
  for (const d of unpacked) rmSync(d, { recursive: true, force: true });
  await dropTestDatabases();
});

/**
 * The files of a ticket's branch in a demo folder (`phase/<phase>_<issue>`), as its session's recorded
 * commit left them, unpacked into a fresh folder. Issue penguins-1 carries the project to its first
 * monitoring window; each scheduled window is an issue of its own (penguins-2 for window 1, …).
 */
function workspace(dir: string, phase: string, issue: number): string {
  const branch = `phase/${phase}_penguins-${issue}`;
  const out = tempDir('vt-demo-branch-');
  unpacked.push(out);
  const tar = execFileSync('git', ['-C', dir, 'archive', '--format=tar', branch], { maxBuffer: 256 << 20 });
  execFileSync('tar', ['-x', '-C', out], { input: tar });
  return out;
}

function stepContext(ws: string): StepContext {
  return { phase: 'test', project: PROJECT, ticket: 'test', workspace: ws, exampleDir: '' };
}

function readTrainFileOf(dir: string) {
  return parse(readFileSync(join(dir, 'vt.yaml'), 'utf8')) as Parameters<typeof routeBound>[0];
}

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
}

/** The uninterrupted run every other test compares with, run once, on first use. */
interface FreshRun {
  dir: string;
  res: RunResult;
  summary: DemoSummary;
  elapsedS: number;
  steps: Step[];
}
let fresh: Promise<FreshRun> | undefined;
function freshRun(): Promise<FreshRun> {
  fresh ??= (async () => {
    const dir = join(tempDir('vt-demo-'), 'demo'); // a folder that does not exist yet
    const t0 = performance.now();
    const res = await runVt(['demo', '--dir', dir, '--json'], { cwd: tempDir(), env: DEMO_ENV });
    const elapsedS = (performance.now() - t0) / 1000;
    assert.equal(res.code, 0, `vt demo failed:\n${res.stderr}`);
    const summary = summaryOf(res);
    const rows = await withStore(dir, transitionsOf);
    return { dir, res, summary, elapsedS, steps: steps(rows) };
  })();
  return fresh;
}

/**
 * `vt demo --json` in its own process group, so a SIGKILL takes its step scripts with it, like a
 * crash. With `killAt`, the group is killed as soon as the n-th progress event of that type arrives:
 * the kill lands mid-run whether the machine is busy or idle.
 */
function startDemo(dir: string, killAt?: { type: string; n: number }) {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(
    process.execPath,
    [VT_BIN, 'demo', '--dir', dir, '--json'],
    {
      cwd: tempDir(),
      env: { ...process.env, NO_COLOR: '1', VT_SQLITE_SYNCHRONOUS: 'NORMAL', ...testTmpEnv(), ...DEMO_ENV },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let stdout = '';
  let stderr = '';
  let seen = 0;
  let pending = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!killAt) return;
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      let type: unknown;
      try {
        type = (JSON.parse(line) as { type?: unknown }).type;
      } catch {
        continue;
      }
      if (type === killAt.type && ++seen === killAt.n) process.kill(-child.pid!, 'SIGKILL');
    }
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdin.end();
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Every recorded artifact is in the commit it was judged in, with the recorded hash and size. */
async function assertArtifactsMatch(store: Store, dir: string): Promise<number> {
  const rows = await store.db
    .selectFrom('artifacts')
    .select(['phase', 'artifact', 'path', 'sha256', 'size', 'commit_sha'])
    .where('project_id', '=', PROJECT)
    .execute();
  assert.ok(rows.length > 0, 'no artifact rows');
  const repo = await repoOf(dir);
  for (const a of rows) {
    const what = `${a.phase}/${a.artifact}`;
    assert.ok(a.commit_sha, `${what} was judged in a recorded commit`);
    const seen = await readCommitted(repo, a.commit_sha, a.path, false);
    assert.ok(seen.ok, `${what}: ${a.path} is not in ${a.commit_sha}: ${seen.ok ? '' : seen.problem}`);
    assert.equal(
      seen.sha256,
      a.sha256,
      `${what}: ${a.path} in ${a.commit_sha} differs from its recorded hash`,
    );
    assert.equal(seen.size, a.size, `${what}: size`);
  }
  return rows.length;
}

function assertContiguous(ns: number[]): void {
  assert.deepEqual(
    ns,
    Array.from({ length: ns.length }, (_, i) => i + 1),
    'transition numbers are 1..N, no gap, no duplicate',
  );
}

describe('vt demo', { concurrency: false }, () => {
  it(
    'a fresh run goes through all 18 phases and ends operating, waiting for monitoring window 3',
    TIMEOUT,
    async (t) => {
      const { res, summary, elapsedS } = await freshRun();
      t.diagnostic(`wall time: ${summary.wall_time_s} s (summary), ${elapsedS.toFixed(1)} s (process)`);
      assert.equal(res.code, 0);
      assert.equal(summary.status, 'operating');
      assert.equal(summary.next?.phase, 'monitoring');
      assert.equal(summary.next?.window, 3);
      assert.equal(summary.next?.schedule, 'cron "0 6 * * 1" UTC');
      const due = new Date(summary.next!.due_at);
      assert.equal(due.getUTCDay(), 1, 'a Monday');
      assert.equal(due.toISOString().slice(11), '06:00:00.000Z');
      assert.match(res.stderr, /operating: monitoring window 3 falls due \d{4}-\d\d-\d\dT06:00:00\.000Z/);
      assert.equal(summary.phases, 18);
      assert.equal(summary.phases_done, 18);
      assert.ok(summary.phase_visits >= 18, `${summary.phase_visits} phase visits`);
      assert.ok(summary.gates_passed_first_time <= summary.phase_visits);
      assert.match(summary.audit, /^\d+ events verify$/);
      assert.equal(typeof summary.wall_time_s, 'number');
      t.diagnostic(
        `visits ${summary.phase_visits}, first-time passes ${summary.gates_passed_first_time}, loops: ${summary.rework_loops.join('; ')}`,
      );
      t.diagnostic(`metrics: ${JSON.stringify(summary.metrics)}`);
      // Every visit re-does its work: a visit the project came back to ticks its items again.
      // Regression: the second visits of validation, deployment, monitoring... ticked nothing and passed.
      // The last stay is the one waiting for window 3: nothing has run in it yet.
      const waiting = summary.visits.at(-1)!;
      assert.deepEqual([waiting.phase, waiting.ticked], ['monitoring', 0]);
      assert.match(res.stderr, new RegExp(`monitoring #${waiting.visit} \\(waiting\\)`));
      const worked = summary.visits.slice(0, -1);
      const again = worked.filter((v) => v.visit > 1);
      assert.ok(again.length >= 3, `the demo comes back to phases: ${JSON.stringify(summary.visits)}`);
      for (const v of worked) assert.ok(v.ticked > 0, `${v.phase} visit ${v.visit} ticked nothing`);
      t.diagnostic(
        `repeat visits: ${again.map((v) => `${v.phase} #${v.visit} (${v.ticked} ticks)`).join(', ')}`,
      );
    },
  );

  it(
    'the audit chain and every recorded artifact verify; vt status shows the project operating',
    TIMEOUT,
    async (t) => {
      const { dir } = await freshRun();
      const verify = await runVt(['audit', 'verify'], { cwd: dir });
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);

      const status = await runVt(['status', PROJECT, '--json'], { cwd: dir });
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout) as {
        id: string;
        status: string;
        phases: number;
        phase: string;
        schedule: { due_at: string; ticket: string | null } | null;
      };
      assert.equal(s.id, PROJECT);
      assert.equal(s.status, 'operating');
      assert.equal(s.phases, 18);
      assert.equal(s.phase, 'monitoring');
      const { summary } = await freshRun();
      assert.deepEqual(s.schedule && { due_at: s.schedule.due_at, ticket: s.schedule.ticket }, {
        due_at: summary.next!.due_at,
        ticket: null,
      });
      const plan = await runVt(['plan', '--json'], { cwd: dir });
      assert.equal(plan.code, 0, plan.stderr);
      assert.deepEqual(
        (JSON.parse(plan.stdout) as { project: string; next: string; due_at: string }[]).map((r) => [
          r.project,
          r.next,
          r.due_at,
        ]),
        [[PROJECT, 'visit', summary.next!.due_at]],
      );

      await withStore(dir, async (store) => {
        const verified = await verifyStore(store.db);
        assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
        // The demo's train requires signed decisions: every approval is signed by the operator's key.
        assert.ok(verified.decisions.checked > 0);
        assert.equal(verified.decisions.signed, verified.decisions.checked);
        const n = await assertArtifactsMatch(store, dir);
        // Every artifact ever recorded, not only the latest per visit: each is in the commit that
        // sealed it (a person's snapshot, or the commit its session ended with).
        const events = await store.db
          .selectFrom('events')
          .select(['type', 'payload'])
          .where('project_id', '=', PROJECT)
          .where('type', 'in', ['artifact.recorded', 'workspace.committed'])
          .orderBy('seq')
          .execute();
        const sealed = new Map<string, string>();
        for (const e of events)
          if (e.type === 'workspace.committed') {
            const c = JSON.parse(e.payload) as { session: string | null; commit: string };
            if (c.session) sealed.set(c.session, c.commit);
          }
        const recorded = events.filter((e) => e.type === 'artifact.recorded');
        const repo = await repoOf(dir);
        for (const e of recorded) {
          const a = JSON.parse(e.payload) as {
            path: string;
            sha256: string;
            session?: string;
            commit?: string;
          };
          const commit = a.commit ?? sealed.get(a.session ?? '');
          assert.ok(commit, `${a.path} was sealed by a commit`);
          const seen = await readCommitted(repo, commit, a.path, false);
          assert.equal(seen.ok && seen.sha256, a.sha256, `${a.path} in ${commit}`);
        }
        t.diagnostic(
          `${verified.checked} events verify; ${n} artifact rows, ${recorded.length} recordings match`,
        );
      });
    },
  );

  it(
    'drift routes monitoring to improvement, the promoted challenger goes back through validation, and a window without drift returns to monitoring',
    TIMEOUT,
    async (t) => {
      const { dir } = await freshRun();
      await withStore(dir, async (store) => {
        const rows = await transitionsOf(store);
        t.diagnostic(
          rows.map((r) => `${r.n}. ${r.from_phase} → ${r.to_phase ?? '(end)'} ${r.kind}`).join('\n'),
        );
        const drift = rows.find(
          (r) => r.kind === 'route' && r.from_phase === 'monitoring' && r.to_phase === 'improvement',
        );
        assert.ok(drift, 'a route from monitoring to improvement');
        const back = rows.find(
          (r) =>
            r.kind === 'route' &&
            r.from_phase === 'retraining' &&
            r.to_phase === 'validation' &&
            r.n > drift.n,
        );
        assert.ok(back, 'a route from retraining back to validation, after the drift route');
        const after = rows.filter((r) => r.n > back.n);
        const passed = (from: string, to: string) =>
          after.find((r) => r.from_phase === from && r.to_phase === to && r.kind === 'advance');
        const v = passed('validation', 'deployment');
        const d = passed('deployment', 'monitoring');
        assert.ok(v, 'validation passed again after the loop');
        assert.ok(d && d.n > v.n, 'deployment passed again after validation');
        const m = after.find((r) => r.from_phase === 'monitoring' && r.n > d.n);
        assert.ok(m, 'monitoring passed again after redeployment');
        assert.notEqual(m.to_phase, 'improvement', 'no second drift route');
        const last = rows.at(-1)!;
        assert.deepEqual(
          rows.filter((r) => r.n > m.n).map((r) => `${r.from_phase} → ${r.to_phase}`),
          ['evaluation → monitoring'],
          'the champion holds: back to monitoring, to wait for the next window',
        );
        assert.ok(
          rows.every((r) => r.to_phase !== null),
          'nothing completes the project',
        );
        assert.ok(last.n > m.n);
        const project = await store.db
          .selectFrom('projects')
          .select(['status', 'phase', 'operating_since'])
          .where('id', '=', PROJECT)
          .executeTakeFirstOrThrow();
        assert.equal(project.status, 'operating');
        assert.equal(project.phase, 'monitoring');
        assert.ok(project.operating_since, 'it became operating when it first entered monitoring');
        // Each window's visit was queued once, when it fell due; the third waits for its Monday.
        const visits = await store.db
          .selectFrom('scheduled_visits')
          .select(['due_at', 'ticket', 'missed'])
          .where('project_id', '=', PROJECT)
          .orderBy('due_at')
          .execute();
        assert.deepEqual(
          visits.map((v) => [v.ticket, v.missed]),
          [
            ['penguins-2-monitoring', 0],
            ['penguins-3-monitoring', 0],
            [null, 0],
          ],
        );

        const psi = await store.db
          .selectFrom('metrics')
          .select(['seq', 'value', 'phase', 'visit'])
          .where('project_id', '=', PROJECT)
          .where('name', '=', 'psi')
          .orderBy('seq')
          .execute();
        t.diagnostic(
          `psi history: ${psi.map((p) => `${p.value} (${p.phase}, visit ${p.visit})`).join(', ')}`,
        );
        const high = psi.findIndex((p) => p.value > 0.2);
        assert.ok(high >= 0, 'a psi value above 0.2');
        assert.ok(
          psi.slice(high + 1).some((p) => p.value < 0.2),
          'a later psi value below 0.2',
        );
      });
    },
  );

  it(
    'shows two monitoring windows from the field feed: the first drifts, the second does not',
    TIMEOUT,
    async (t) => {
      const { dir, res, summary } = await freshRun();
      const ws = workspace(dir, 'monitoring', 2);
      const bound = routeBound(readTrainFileOf(dir), 'monitoring', 'psi');
      t.diagnostic(
        `windows: ${JSON.stringify(summary.windows)}; the train routes on psi ${bound.op} ${bound.value}`,
      );
      assert.ok(summary.windows.length >= 2, 'at least two monitoring windows');
      const [first, second] = summary.windows;
      assert.equal(first!.drift, true);
      assert.equal(first!.to, 'improvement');
      assert.ok(first!.psi > bound.value, `window 1 psi ${first!.psi} is over the train's ${bound.value}`);
      assert.equal(second!.drift, false);
      assert.notEqual(second!.to, 'improvement');
      assert.ok(second!.psi <= bound.value, `window 2 psi ${second!.psi}`);
      assert.deepEqual(first!.path, ['improvement', 'retraining', 'validation', 'deployment', 'monitoring']);
      assert.deepEqual(second!.path, ['evaluation', 'monitoring']);
      assert.equal(summary.windows.length, 2, 'exactly the windows the demo needs');
      assert.match(
        res.stderr,
        /monitoring windows: #1 psi [\d.]+ drift → improvement → retraining → validation → deployment → monitoring; #2 psi [\d.]+ no drift → evaluation → monitoring/,
      );
      // Each window reaches the workspace in the commit of the monitoring visit that scored it, and is
      // exactly what the feed generates for that window number (it does not depend on the model).
      for (const n of [1, 2]) {
        const added = git(
          dir,
          'log',
          'vt/penguins',
          '--diff-filter=A',
          '--format=%s',
          '--',
          `data/windows/window-${n}.csv`,
        );
        assert.match(added.trim(), new RegExp(`^monitoring: penguins-${n + 1}-monitoring `));
        const ctx = stepContext(ws);
        const expected = generateWindow(heldBackBirds(ctx), n);
        const final = stepContext(workspace(dir, 'evaluation', 3));
        assert.deepEqual(
          readPenguins(final, `data/windows/window-${n}.csv`),
          expected,
          `window ${n} is the feed's`,
        );
      }
    },
  );

  it(
    'the retrained model beats the champion it replaced on held-out birds of the drifted window',
    TIMEOUT,
    async (t) => {
      const { dir } = await freshRun();
      const ctx = stepContext(workspace(dir, 'retraining', 2));
      const champion = modelFromJson(
        readFileSync(join(ctx.workspace, 'models/champion-previous.json'), 'utf8'),
      );
      const retrained = modelFromJson(readFileSync(join(ctx.workspace, 'models/model.json'), 'utf8'));
      // The validate cohort of window 1: birds no step fitted on or chose with.
      const ids = new Set(cohortsOf(heldBackBirds(ctx)).validate);
      const heldOut = generateWindow(heldBackBirds(ctx), 1).filter((p) => ids.has(p.id));
      const y = heldOut.map(label);
      const before = rocAuc(y, predict(champion, heldOut));
      const after = rocAuc(y, predict(retrained, heldOut));
      t.diagnostic(
        `window 1 validate cohort (${heldOut.length} birds): AUC ${before.toFixed(4)} -> ${after.toFixed(4)}`,
      );
      assert.ok(heldOut.length >= 30);
      assert.ok(after > before + 0.05, `retrained ${after} vs champion ${before}`);
      assert.match(
        retrained.training.window,
        /window-1\/fit/,
        'the challenger was fitted on the drifted window',
      );
    },
  );

  it('no bird is used both to choose and to validate (nor to fit and to judge)', TIMEOUT, async (t) => {
    const { dir } = await freshRun();
    const folder = join(workspace(dir, 'evaluation', 3), 'reports', 'data-use');
    const manifests = readdirSync(folder).map(
      (f) => JSON.parse(readFileSync(join(folder, f), 'utf8')) as DataUseManifest,
    );
    const tickets = manifests.map((m) => m.ticket).sort();
    t.diagnostic(`${manifests.length} manifests: ${tickets.join(', ')}`);
    for (const ticket of [
      'penguins-1-training',
      'penguins-1-validation',
      'penguins-2-validation',
      'penguins-2-monitoring',
      'penguins-3-monitoring',
      'penguins-2-retraining',
      'penguins-3-evaluation',
    ])
      assert.ok(tickets.includes(ticket), `a manifest for ${ticket}`);
    const uses = (ticket: string) => manifests.find((m) => m.ticket === ticket)!.uses;
    assert.deepEqual(
      uses('penguins-2-validation').map((u) => `${u.set}:${u.purpose}`),
      ['test:validate', 'window-1/validate:validate'],
    );
    assert.ok(
      uses('penguins-2-retraining').some((u) => u.set === 'window-1/select' && u.purpose === 'choose'),
    );
    assert.deepEqual(findLeaks(manifests), []);
    // The check finds a leak when there is one: the old demo decided promotion on the test split.
    const leaky: DataUseManifest = {
      phase: 'retraining',
      ticket: 'old-retraining',
      uses: [{ set: 'test', purpose: 'choose', ids: uses('penguins-1-validation')[0]!.ids.slice(0, 3) }],
    };
    assert.equal(findLeaks([...manifests, leaky]).length, 3);
  });

  it(
    'SIGKILLed at chosen moments, in delivery and in operations, the demo resumes to the same result',
    TIMEOUT,
    async (t) => {
      const expected = (await freshRun()).steps;
      const dir = join(tempDir('vt-demo-crash-'), 'demo');
      // Each kill waits for an event, not a clock: a claim (before the step runs), a session (while the
      // step script runs), or a finished ticket (after its transition committed). Every run has far more
      // than four of each left, so each one is killed mid-way. Then twice just after a scheduled window
      // was queued (the demo's clock had moved to its due time): windows 1 and 2.
      const kills = [
        ...fc.sample(
          fc.record({
            type: fc.constantFrom('claimed', 'session', 'finished'),
            n: fc.integer({ min: 1, max: 4 }),
          }),
          { numRuns: 3, seed: 2026 },
        ),
        { type: 'scheduled', n: 1 },
        { type: 'scheduled', n: 1 },
      ];
      for (const killAt of kills) {
        const run = startDemo(dir, killAt);
        const res = await run.done;
        const progress = existsSync(dbOf(dir))
          ? await withStore(dir, async (s) => (await transitionsOf(s)).length)
          : 0;
        t.diagnostic(`killed at ${killAt.type} #${killAt.n}: ${progress} transitions so far`);
        assert.equal(
          res.signal,
          'SIGKILL',
          `the run ended by itself before ${killAt.type} #${killAt.n}:\n${res.stderr}`,
        );
      }

      const t0 = performance.now();
      const final = await runVt(['demo', '--dir', dir, '--json'], { cwd: tempDir(), env: DEMO_ENV });
      t.diagnostic(`final run: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(final.code, 0, final.stderr);
      const summary = summaryOf(final);
      assert.equal(summary.status, 'operating');
      assert.equal(summary.next?.window, 3);
      assert.equal(summary.phases_done, 18);

      await withStore(dir, async (store) => {
        const verified = await verifyStore(store.db);
        assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
        const rows = await transitionsOf(store);
        assertContiguous(rows.map((r) => r.n));
        assert.deepEqual(steps(rows), expected, 'the same path through the train as the uninterrupted run');

        const finished = await store.db
          .selectFrom('events')
          .select('payload')
          .where('project_id', '=', PROJECT)
          .where('type', '=', 'ticket.finished')
          .execute();
        const perTicket = new Map<string, number>();
        for (const e of finished) {
          const ticket = (JSON.parse(e.payload) as { ticket: string }).ticket;
          perTicket.set(ticket, (perTicket.get(ticket) ?? 0) + 1);
        }
        assert.deepEqual(
          [...perTicket].filter(([, n]) => n > 1),
          [],
          'no ticket finished twice',
        );
        assert.equal(perTicket.size, expected.length, 'one finished ticket per phase visit');
        const claims = await store.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('project_id', '=', PROJECT)
          .where('type', '=', 'ticket.claimed')
          .executeTakeFirstOrThrow();
        t.diagnostic(`${verified.checked} events, ${claims.n} claims, ${finished.length} tickets finished`);

        await assertArtifactsMatch(store, dir);
        const live = await dumpProjections(store.db);
        await rebuildProjections(store);
        assert.deepEqual(
          await dumpProjections(store.db),
          live,
          'the projections are exactly the replayed events',
        );
      });
    },
  );

  it(
    'on PostgreSQL (VT_DATABASE_URL) the same demo takes the same transitions, ends operating and verifies',
    TIMEOUT,
    async () => {
      const url = await freshPgUrl();
      const onPg = { ...DEMO_ENV, VT_DATABASE_URL: url };
      const dir = join(tempDir('vt-demo-pg-'), 'demo');
      const res = await runVt(['demo', '--dir', dir, '--json'], { cwd: tempDir(), env: onPg });
      assert.equal(res.code, 0, `vt demo failed:\n${res.stderr}`);
      assert.ok(!existsSync(dbOf(dir)), 'no SQLite store beside the PostgreSQL one');
      const summary = summaryOf(res);
      const sqlite = await freshRun();
      // The demo is seeded: the backend changes nothing the project goes through (only the measured
      // latency differs from run to run).
      for (const key of ['status', 'phase_visits', 'gates_passed_first_time', 'rework_loops'] as const)
        assert.deepEqual(summary[key], sqlite.summary[key], key);
      const { latency_p95_ms: _, ...figures } = summary.metrics;
      const { latency_p95_ms: __, ...expected } = sqlite.summary.metrics;
      assert.deepEqual(figures, expected);
      const store = await openStore(url);
      try {
        assert.deepEqual(steps(await transitionsOf(store)), sqlite.steps);
        const verified = await verifyStore(store.db);
        assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
        assert.equal(verified.decisions.signed, verified.decisions.checked);
        await assertArtifactsMatch(store, dir);
      } finally {
        await store.close();
      }
      const verify = await runVt(['audit', 'verify'], { cwd: dir, env: onPg });
      assert.equal(verify.code, 0, verify.stderr);
      const status = JSON.parse((await runVt(['status', PROJECT, '--json'], { cwd: dir, env: onPg })).stdout);
      assert.deepEqual([status.status, status.phase], ['operating', 'monitoring']);
    },
  );

  it('refuses a non-empty folder it did not set up, and leaves it untouched', TIMEOUT, async () => {
    const dir = tempDir('vt-demo-foreign-');
    writeFileSync(join(dir, 'notes.txt'), 'my notes\n');
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'x.csv'), 'a,b\n1,2\n');
    const before = snapshot(dir);
    for (const args of [['demo'], ['demo', '--reset'], ['demo', '--json']]) {
      const res = await runVt([...args, '--dir', dir], { cwd: tempDir(), env: DEMO_ENV });
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, /not empty|not set up by vt demo/);
      assert.deepEqual(snapshot(dir), before, `${args.join(' ')} touched the folder`);
      assert.deepEqual(readdirSync(dir).sort(), ['data', 'notes.txt']);
    }
  });

  it('--reset in a demo folder starts over and ends operating again', TIMEOUT, async (t) => {
    const { dir, steps: expected } = await freshRun();
    const before = await withStore(dir, async (store) => {
      const p = await store.db
        .selectFrom('projects')
        .select(['created_at', 'head_seq'])
        .where('id', '=', PROJECT)
        .executeTakeFirstOrThrow();
      return p;
    });
    writeFileSync(join(dir, '.vt', 'stale-from-last-run'), 'x');
    const t0 = performance.now();
    const res = await runVt(['demo', '--dir', dir, '--reset', '--json'], { cwd: tempDir(), env: DEMO_ENV });
    t.diagnostic(`reset run: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /set up the penguins example/);
    const summary = summaryOf(res);
    assert.equal(summary.status, 'operating');
    assert.equal(summary.phases_done, 18);
    assert.ok(!existsSync(join(dir, '.vt', 'stale-from-last-run')), 'the old .vt/ was removed');
    await withStore(dir, async (store) => {
      const p = await store.db
        .selectFrom('projects')
        .select(['created_at', 'head_seq'])
        .where('id', '=', PROJECT)
        .executeTakeFirstOrThrow();
      assert.notEqual(p.created_at, before.created_at, 'a new project, not the old one resumed');
      const created = await store.db
        .selectFrom('events')
        .select('seq')
        .where('type', '=', 'project.created')
        .execute();
      assert.deepEqual(created, [{ seq: 1 }], 'one chain, started anew, not appended to the old one');
      t.diagnostic(`events: ${before.head_seq} before the reset, ${p.head_seq} after`);
      const rows = await transitionsOf(store);
      assertContiguous(rows.map((r) => r.n));
      assert.deepEqual(steps(rows), expected);
      const verified = await verifyStore(store.db);
      assert.equal(verified.ok, true);
    });
  });
});
