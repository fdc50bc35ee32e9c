/** The parts of the value report on their own: reading events, statistics, signatures, the forecast walk. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasEvidence } from '../src/analytics/evidence.ts';
import { type EventRow, toFact } from '../src/analytics/facts.ts';
import { forecastCompletion, forecastSentence, StayPool } from '../src/analytics/forecast.ts';
import { GateYields } from '../src/analytics/gate-yield.ts';
import { seededRandom } from '../src/analytics/random.ts';
import { isSigned } from '../src/analytics/signed.ts';
import { boxStats } from '../src/analytics/stats.ts';
import { type Stay, TimelineBuilder } from '../src/analytics/timeline.ts';

const DAY = 86_400_000;
const row = (type: string, payload: unknown, actor = 'ana'): EventRow => ({
  project_id: 'p',
  seq: 2,
  ts: '2026-03-01T00:00:00.000Z',
  actor,
  type,
  payload: JSON.stringify(payload),
});
const HASH = 'a'.repeat(64);

test('box-plot statistics use type-7 quantiles (R and NumPy defaults)', () => {
  // R: quantile(1:10, c(.25, .5, .75, .85, .95)) = 3.25 5.50 7.75 8.65 9.55
  const s = boxStats([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])!;
  assert.deepEqual([s.q1, s.median, s.q3], [3.25, 5.5, 7.75]);
  assert.ok(Math.abs(s.p85 - 8.65) < 1e-12 && Math.abs(s.p95 - 9.55) < 1e-12);
  assert.deepEqual([s.n, s.min, s.max, s.mean, s.outliers], [10, 1, 10, 5.5, 0]);
  const o = boxStats([1, 2, 3, 4, 100])!;
  assert.equal(o.outliers, 1);
  assert.equal(o.whisker_high, 4);
  assert.equal(boxStats([]), null);
});

test('evidence events are read with or without the visit and session they may carry', () => {
  const old = toFact(row('checklist.ticked', { phase: 'build', item: 'x', note: null }));
  assert.equal(old.kind, 'work');
  assert.ok(old.kind === 'work' && old.visit === null && old.session === null);
  const scoped = toFact(
    row('artifact.recorded', {
      phase: 'build',
      visit: 3,
      session: 't1.s2',
      artifact: 'a',
      path: 'a.txt',
      workspace: '/w',
      sha256: HASH,
      size: 1,
    }),
  );
  assert.ok(scoped.kind === 'work' && scoped.visit === 3 && scoped.session === 't1.s2' && scoped.evidence);
  const metric = toFact(row('metric.recorded', { phase: 'build', visit: 2, name: 'auc', value: 0.9 }));
  assert.ok(metric.kind === 'work' && metric.visit === 2 && metric.what === 'metric');
});

test('a decision is signed only with a real signature field, and has evidence only with a hash or digest', () => {
  const approval = (extra: Record<string, unknown>) =>
    toFact(
      row('approval.recorded', {
        phase: 'p',
        visit: 1,
        role: 'lead',
        decision: 'approve',
        reason: null,
        digest: HASH,
        ...extra,
      }),
    ).decision;
  assert.deepEqual(approval({}), { what: 'approval', evidence: true, signed: false });
  assert.equal(approval({ signature: 'sshsig…' })?.signed, true);
  assert.equal(approval({ signature: { key: 'ssh-ed25519 AAAA', sig: 'x' } })?.signed, true);
  for (const fake of ['', '   ', null, {}, 0, false])
    assert.equal(approval({ signature: fake })?.signed, false);
  assert.equal(approval({ digest: 'not-a-digest' })?.evidence, false);
  const hold = toFact(row('project.held', { reason: null })).decision;
  assert.deepEqual(hold, { what: 'hold', evidence: false, signed: false });
  assert.equal(isSigned({}), false);
  assert.equal(hasEvidence({ sha256: HASH.toUpperCase() }), false);
  assert.equal(hasEvidence({ evidence: { report: 'r.json' } }), true);
  assert.equal(toFact(row('checklist.ticked', { phase: 'x', item: 'y', note: null })).decision, null);
});

test('a gate waiting only for a sign-off is pending, a rejection or a failing sibling is a verdict', () => {
  const approval = (rejected: string[]) => ({
    gate: 'go',
    kind: 'approval',
    status: 'fail',
    message: '',
    evidence: { rejected_by: rejected },
  });
  const metric = (status: string) => ({ gate: 'm', kind: 'metric', status, message: '', evidence: {} });
  const f = toFact(
    row('gate.evaluated', {
      phase: 'p',
      visit: 1,
      side: 'exit',
      passed: false,
      results: [
        approval([]),
        approval(['rev-1']),
        {
          gate: 'q',
          kind: 'all',
          status: 'fail',
          message: '',
          evidence: {},
          children: [metric('pass'), approval([])],
        },
        {
          gate: 'r',
          kind: 'all',
          status: 'fail',
          message: '',
          evidence: {},
          children: [metric('fail'), approval([])],
        },
        metric('error'),
      ],
    }),
  );
  assert.ok(f.kind === 'gate');
  assert.deepEqual(
    f.verdicts.map((v) => v.pending),
    [true, false, true, false, false],
  );
});

const stay = (phase: string, days: number, exit: Stay['exit'], to: string | null, start = 0): Stay => ({
  phase,
  visit: 1,
  enter: start,
  leave: start + days * DAY,
  exit,
  to,
});

test('a forecast walks the train by resampled stays, from the time already spent in the current one', () => {
  const pool = new StayPool();
  for (let i = 0; i < 6; i++)
    pool.addStays([stay('a', 2, 'advance', 'b'), stay('b', 3, 'complete', null)], 0);
  const now = Date.parse('2026-03-10T00:00:00Z');
  const o = { now, until: null, trials: 200, random: seededRandom('x'), minStays: 5 };
  const f = forecastCompletion(pool, { phase: 'a', enteredAt: now - DAY / 2 }, o);
  assert.ok(f.ok);
  assert.equal(f.p50, now + 1.5 * DAY + 3 * DAY);
  assert.equal(f.p90, f.p50);
  // Until a phase: stop at its forward exit.
  const g = forecastCompletion(pool, { phase: 'a', enteredAt: now }, { ...o, until: 'a' });
  assert.ok(g.ok && g.p50 === now + 2 * DAY);
  // Older than every stay seen: the stay ends now.
  const h = forecastCompletion(pool, { phase: 'b', enteredAt: now - 10 * DAY }, o);
  assert.ok(h.ok && h.p85 === now);
  assert.equal(forecastSentence(now + 2 * DAY, now), '85% chance by 12 March');
  assert.equal(forecastSentence(Date.parse('2027-01-02T00:00:00Z'), now), '85% chance by 2 January 2027');
});

test('no forecast without enough history, or when the history never gets there', () => {
  const pool = new StayPool();
  for (let i = 0; i < 3; i++) pool.addStays([stay('a', 2, 'advance', 'b')], 0);
  const o = { now: 0, until: null, trials: 10, random: seededRandom('y'), minStays: 5 };
  const f = forecastCompletion(pool, { phase: 'a', enteredAt: 0 }, o);
  assert.deepEqual(f, { ok: false, reason: '3 finished stays in a (needs 5)' });
  const loop = new StayPool();
  for (let i = 0; i < 5; i++) loop.addStays([stay('a', 1, 'rework', 'b'), stay('b', 1, 'rework', 'a')], 0);
  const g = forecastCompletion(loop, { phase: 'a', enteredAt: 0 }, o);
  assert.ok(!g.ok && /does not reach the end/.test(g.reason));
});

test('stays still open weigh the finished ones (Kaplan-Meier): young, short stays do not make a team look fast', () => {
  const pool = new StayPool();
  for (const d of [1, 2, 3, 4]) pool.addStays([stay('a', d, 'complete', null)], 0);
  const now = 100 * DAY;
  const o = { now, until: null, trials: 20_000, random: seededRandom('km'), minStays: 1 };
  const before = forecastCompletion(pool, { phase: 'a', enteredAt: now }, o);
  // Ten stays open for 2.5 days: a finished 3- or 4-day stay is now far likelier than a 1- or 2-day one
  // (weights 1/14, 1/14, 6/14, 6/14 instead of a quarter each).
  for (let i = 0; i < 10; i++)
    pool.addStays([{ ...stay('a', 0, null, null, now - 2.5 * DAY), leave: null }], now);
  const after = forecastCompletion(pool, { phase: 'a', enteredAt: now }, o);
  assert.ok(before.ok && after.ok);
  // Equal weights: half the draws are 1 or 2 days. Kaplan-Meier: one in seven.
  assert.ok(before.p50 <= now + 2.5 * DAY, `P50 ${(before.p50 - now) / DAY} days`);
  assert.ok(after.p50 >= now + 3 * DAY, `P50 ${(after.p50 - now) / DAY} days`);
  assert.equal(after.p85, now + 4 * DAY);
});

test('evidence events are read with the commit they were hashed in, and commits with their session', () => {
  const artifact = (extra: Record<string, unknown>) =>
    toFact(
      row('artifact.recorded', {
        phase: 'build',
        artifact: 'a',
        path: 'a.txt',
        workspace: '/w',
        sha256: HASH,
        size: 1,
        ...extra,
      }),
    );
  const person = artifact({ visit: 2, session: null, commit: 'c'.repeat(40) });
  assert.ok(person.kind === 'work' && person.commit === 'c'.repeat(40) && !person.legacy);
  const pending = artifact({ visit: 2, session: 't.s1', commit: null });
  assert.ok(pending.kind === 'work' && pending.commit === null && !pending.legacy);
  const early = artifact({});
  assert.ok(early.kind === 'work' && early.commit === null && early.legacy);
  // Not a commit id: no commit.
  const odd = artifact({ visit: 2, session: null, commit: 'HEAD' });
  assert.ok(odd.kind === 'work' && odd.commit === null && !odd.legacy);
  const c = toFact(
    row('workspace.committed', {
      phase: 'build',
      visit: 2,
      session: 't.s1',
      ticket: 't',
      commit: 'c'.repeat(40),
      tree: 'd'.repeat(40),
    }),
  );
  assert.deepEqual(c.kind === 'committed' && [c.session, c.phase, c.visit], ['t.s1', 'build', 2]);
  const ended = (outcome: string) =>
    toFact(
      row('session.ended', {
        session: 't.s1',
        outcome,
        exit_code: 0,
        summary: null,
        tokens_in: null,
        tokens_out: null,
        cost: 0.1,
      }),
    );
  assert.deepEqual(
    ['succeeded', 'failed', 'timed-out', 'abandoned', 'unavailable'].map((o) => {
      const f = ended(o);
      return f.kind === 'session-ended' && f.succeeded;
    }),
    [true, false, false, false, false],
  );
});

test('first-pass yield is per visit: a rework visit of a phase gets its own first verdict', () => {
  let seq = 1;
  const at = (type: string, payload: unknown, actor = 'autopilot') => ({
    ...row(type, payload, actor),
    seq: seq++,
    ts: new Date(Date.parse('2026-03-01T00:00:00Z') + seq * 60_000).toISOString(),
  });
  const gate = (visit: number, status: string) =>
    at('gate.evaluated', {
      phase: 'build',
      visit,
      side: 'exit',
      passed: status === 'pass',
      results: [{ gate: 'good', kind: 'metric', status, message: '', evidence: {} }],
    });
  const b = new TimelineBuilder(() => null, []);
  for (const r of [
    at('project.created', {
      name: 'P',
      team: null,
      priority: 'now',
      budget: null,
      train_hash: 'h',
      train_name: 'flow',
      workspace: '/w',
      phase: 'build',
    }),
    gate(1, 'fail'),
    gate(1, 'pass'),
    at('phase.advanced', { n: 1, from: 'build', to: 'check', kind: 'advance', reason: null }),
    at('phase.advanced', { n: 2, from: 'check', to: 'build', kind: 'rework', reason: null }),
    gate(3, 'pass'),
    gate(3, 'fail'),
  ])
    b.add(toFact(r));
  const y = new GateYields();
  y.add(b.finish()!);
  const f = y.figure(['build']);
  assert.deepEqual([f.evaluated, f.first_pass, f.rate], [2, 1, 0.5]);
});
