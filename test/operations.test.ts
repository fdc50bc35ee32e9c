// Operations that never stop: scheduled visits fall due on their schedule and are queued exactly once
// however many workers ask, a project in operations never completes on its own, and only a person's
// `vt retire` ends it, on the record.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { verifyStore } from '../src/audit/audit.ts';
import { queueDueVisits } from '../src/autopilot/schedules.ts';
import { type Clock, Engine } from '../src/engine/engine.ts';
import type { RecordedEvent } from '../src/engine/events.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import type { VtError } from '../src/errors.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { toRecorded } from '../src/store/append.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { lintTrain } from '../src/train/lint.ts';
import { parseTrain } from '../src/train/loader.ts';
import {
  describeSchedule,
  dueAfterEntry,
  everyMs,
  periodAt,
  scheduleProblem,
} from '../src/train/schedule.ts';
import { folderStore, ROOT, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

/** A clock only the test moves; every engine of a run shares it. */
class SimClock implements Clock {
  t: number;
  constructor(start: number) {
    this.t = start;
  }
  now(): Date {
    return new Date(this.t);
  }
}

/** build → watch (scheduled) → check → watch …; drift sends watch to fix → build → watch. No end. */
function opsTrain(schedule: string): string {
  return `version: 1
name: ops
roles:
  - { id: lead, name: Lead }
  - { id: ops, name: Ops }
metrics:
  - { id: drift }
people:
  lead-1: [lead]
phases:
  - id: build
    name: Build
    stage: delivery
    owner: ops
    next: watch
  - id: watch
    name: Watch
    stage: operations
    owner: ops
    metrics: [drift]
    schedule: ${schedule}
    routes:
      - { when: "drift > 0.5", to: fix, reason: drift }
    next: check
  - id: check
    name: Check
    stage: operations
    owner: ops
    next: watch
  - id: fix
    name: Fix
    stage: operations
    owner: ops
    next: build
`;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Schedules the property draws from, with their nominal period (the clock moves in periods). */
const SCHEDULES: { yaml: string; period: number }[] = [
  { yaml: '{ every: 1m }', period: MIN },
  { yaml: '{ every: 45m }', period: 45 * MIN },
  { yaml: '{ every: 1d }', period: DAY },
  { yaml: '{ cron: "*/5 * * * *" }', period: 5 * MIN },
  { yaml: '{ cron: "0 6 * * 1" }', period: 7 * DAY },
  { yaml: '{ cron: "30 2 * * *", tz: Europe/Paris }', period: DAY },
];

const START = Date.parse('2026-03-01T00:00:00.000Z');

async function eventsOf(store: Store, project: string): Promise<RecordedEvent[]> {
  const rows = await store.db
    .selectFrom('events')
    .selectAll()
    .where('project_id', '=', project)
    .orderBy('seq')
    .execute();
  return rows.map(toRecorded);
}

/** The local wall-clock fields of `d` in `tz`. */
function localParts(d: Date, tz: string) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: tz,
    hourCycle: 'h23',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  return {
    weekday: get('weekday'),
    hour: Number(get('hour')),
    minute: Number(get('minute')),
    second: Number(get('second')),
  };
}

/** Whether `d` is an instant of one of the cron schedules above, checked by hand (not by the parser). */
function isCronInstant(yaml: string, d: Date): boolean {
  if (d.getUTCMilliseconds() !== 0) return false;
  if (yaml.includes('*/5')) return d.getUTCSeconds() === 0 && d.getUTCMinutes() % 5 === 0;
  if (yaml.includes('0 6 * * 1'))
    return d.getUTCDay() === 1 && d.getUTCHours() === 6 && d.getUTCMinutes() === 0 && d.getUTCSeconds() === 0;
  const p = localParts(d, 'Europe/Paris');
  if (p.minute !== 30 || p.second !== 0) return false;
  if (p.hour === 2) return true;
  // On the night clocks go forward, 02:30 does not exist: it runs at 03:30, an hour after 01:30.
  return p.hour === 3 && localParts(new Date(d.getTime() - HOUR), 'Europe/Paris').hour === 1;
}

interface Worker {
  name: string;
  engine: Engine;
  tickets: Tickets;
}

describe('schedules: when a visit falls due', () => {
  it('reads periods and refuses what is not a schedule, saying why', () => {
    assert.equal(everyMs('1d'), DAY);
    assert.equal(everyMs('45m'), 45 * MIN);
    assert.equal(everyMs('2w'), 14 * DAY);
    for (const bad of ['1', 'd', '0d', '1.5h', '-1d', '1 d', '1y', '367d', ''])
      assert.equal(everyMs(bad), null, bad);
    assert.equal(scheduleProblem({ every: '1d' }), null);
    assert.equal(scheduleProblem({ cron: '0 6 * * 1' }), null);
    assert.equal(scheduleProblem({ cron: '@weekly', tz: 'Europe/Paris' }), null);
    const problems: [object, RegExp][] = [
      [{ every: '1y' }, /not a period/],
      [{ cron: '61 * * * *' }, /cron: "61 \* \* \* \*"/],
      [{ cron: '* * * *' }, /five fields/],
      [{ cron: '0 0 6 * * 1' }, /five fields/],
      [{ cron: '@secondly' }, /five fields/],
      [{ cron: '0 6 * * 1', tz: 'Mars/Olympus' }, /not a time zone/],
      [{ every: '1d', cron: '0 6 * * 1' }, /either every .* or cron/],
      [{}, /either every .* or cron/],
      [{ every: '1d', tz: 'UTC' }, /tz applies to cron/],
    ];
    for (const [spec, re] of problems) assert.match(scheduleProblem(spec) ?? '(no problem)', re);
    assert.equal(describeSchedule({ every: '1d' }), 'every 1d');
    assert.equal(describeSchedule({ cron: '0 6 * * 1' }), 'cron "0 6 * * 1" UTC');
  });

  it('due times never come early, never repeat, and keep their rhythm (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SCHEDULES),
        fc.array(fc.integer({ min: 0, max: 20 * DAY }), { minLength: 1, maxLength: 8 }),
        (sched, gaps) => {
          const spec = parseTrain(opsTrain(sched.yaml)).train.phases[1]!.schedule!;
          let entered = START;
          let last: number | null = null;
          let first: number | null = null;
          for (const gap of gaps) {
            entered += gap;
            const due = dueAfterEntry(
              spec,
              new Date(entered),
              last === null ? null : new Date(last),
            ).getTime();
            assert.ok(due >= entered, 'never before the project entered the phase');
            if (last !== null) assert.ok(due > last, 'after the last due time of the phase: never twice');
            if (spec.every) {
              const p = everyMs(spec.every)!;
              first ??= due;
              assert.equal((due - first) % p, 0, 'every keeps the rhythm of its first due time');
              assert.ok(
                last === null ? due === entered : due - p < Math.max(entered, last + 1) || due - p === last,
              );
            } else {
              assert.ok(
                isCronInstant(sched.yaml, new Date(due)),
                `${new Date(due).toISOString()} is a cron instant`,
              );
              // The first instant: no cron minute between the entry (or the last due) and it.
              if (!sched.yaml.includes('tz'))
                for (let m = Math.ceil(Math.max(entered, (last ?? 0) + 1) / MIN) * MIN; m < due; m += MIN)
                  assert.ok(
                    !isCronInstant(sched.yaml, new Date(m)),
                    `${new Date(m).toISOString()} was skipped`,
                  );
              const p = periodAt(spec, new Date(due));
              assert.ok(p > 0 && p <= 8 * DAY);
            }
            last = due;
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a schedule is validated where the train is read, with the line and column', () => {
    const bad = opsTrain('{ cron: "0 25 * * *" }');
    assert.throws(
      () => parseTrain(bad, 'vt.yaml'),
      (err: VtError) =>
        err.code === 'TRAIN_INVALID' &&
        /vt\.yaml:\d+:\d+: phases\[1\]\.schedule: cron: "0 25 \* \* \*"/.test(err.message),
    );
    assert.throws(
      () => parseTrain(opsTrain('{ every: 5 }')),
      /phases\[1\]\.schedule\.every: expected string/,
    );
    assert.throws(() => parseTrain(opsTrain('{ every: 1d, at: 6am }')), /unknown field "at"/);
  });

  it('vt lint: the built-in train cycles in operations with no end, and that is clean; a loop outside operations is not', async () => {
    const { readFileSync } = await import('node:fs');
    const file = join(ROOT, 'templates', 'ml-value-train.yaml');
    const loaded = parseTrain(readFileSync(file, 'utf8'), file);
    assert.deepEqual(lintTrain(loaded), []);
    const ops = loaded.train.phases.filter((p) => p.stage === 'operations');
    assert.deepEqual(
      ops.filter((p) => !p.next).map((p) => p.id),
      [],
      'no phase ends the train in operations',
    );
    assert.ok(loaded.train.phases.find((p) => p.id === 'monitoring')?.schedule, 'monitoring is scheduled');
    assert.deepEqual(lintTrain(parseTrain(opsTrain('{ every: 1d }'))), []);
    // The same cycle in the delivery stage has no way out: nobody retires a project there.
    const stuck = opsTrain('{ every: 1d }').replaceAll('stage: operations', 'stage: delivery');
    const problems = lintTrain(parseTrain(stuck, 'vt.yaml')).map((p) => p.message);
    assert.ok(
      problems.some((m) => /no phase ends the train/.test(m)),
      problems.join('\n'),
    );
  });
});

describeOnBackends('operations as a cycle', () => {
  it('every due visit is queued exactly once, by any number of workers, and the project never completes (fast-check)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          sched: fc.constantFrom(...SCHEDULES),
          workers: fc.integer({ min: 1, max: 4 }),
          steps: fc.array(
            fc.record({
              periods: fc.constantFrom(0, 0.3, 1, 1, 2.5, 12),
              jitter: fc.integer({ min: 0, max: 59_999 }),
              hold: fc.boolean(),
              yields: fc.array(fc.nat(6), { minLength: 4, maxLength: 4 }),
            }),
            { minLength: 2, maxLength: 8 },
          ),
          drifts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 40, maxLength: 40 }),
        }),
        async ({ sched, workers: n, steps, drifts }) => {
          runs++;
          const dir = tempDir('vt-ops-prop-');
          const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
          const clock = new SimClock(START);
          try {
            const train = parseTrain(opsTrain(sched.yaml), join(dir, 'vt.yaml'));
            const workers: Worker[] = Array.from({ length: n }, (_, i) => {
              const engine = new Engine({ store, io: nodeIo, clock });
              return { name: `w${i}`, engine, tickets: new Tickets(engine) };
            });
            const lead = workers[0]!.engine;
            await lead.createProject({ id: 'ops', name: 'Ops', workspace: dir, train }, { actor: 'lead-1' });
            await workers[0]!.tickets.addIssue('ops', { title: 'Carry ops' }, { actor: 'lead-1' });
            let drift = 0;
            const yieldTo = async (k: number) => {
              for (let i = 0; i < k; i++) await null;
            };
            /** One worker's turn: queue what is due, then work every claimable ticket. */
            const turn = async (w: Worker, yields: number[]) => {
              await yieldTo(yields[0]!);
              await queueDueVisits(w.engine);
              for (;;) {
                await yieldTo(yields[1]!);
                const c = await w.tickets.claimNext(w.name, { leaseMs: 60_000 });
                if (!c) return;
                if (c.ticket.phase === 'watch')
                  await w.engine.setMetric('ops', 'drift', drifts[drift++ % drifts.length]!, {
                    actor: 'ops-1',
                  });
                await yieldTo(yields[2]!);
                await w.tickets.finish(c, { actor: 'autopilot' }, 1000);
              }
            };
            /** Every worker at once, until nothing is due and nothing claimable at this time. */
            const round = async (yields: number[]) => {
              for (let i = 0; i < 6; i++) {
                const before = (await lead.state('ops')).seq;
                await Promise.all(
                  workers.map((w, k) =>
                    turn(
                      w,
                      yields.map((y) => (y + k) % 7),
                    ),
                  ),
                );
                if ((await lead.state('ops')).seq === before) return;
              }
              assert.fail('the workers kept finding work at one instant');
            };
            await round([0, 0, 0, 0]);
            for (const step of steps) {
              clock.t += Math.round(step.periods * sched.period) + step.jitter;
              if (step.hold) {
                await lead.lifecycle('ops', 'hold', null, { actor: 'lead-1' });
                const held = (await lead.state('ops')).seq;
                clock.t += Math.round(step.periods * sched.period) + step.jitter;
                await round(step.yields);
                assert.equal((await lead.state('ops')).seq, held, 'nothing is queued or claimed on hold');
                await lead.lifecycle('ops', 'resume', null, { actor: 'lead-1' });
              }
              await round(step.yields);
              const s = await lead.state('ops');
              assert.equal(s.status, 'operating');
              assert.ok(s.scheduled && s.scheduled.phase === 'watch' && s.scheduled.ticket === null);
              assert.ok(
                Date.parse(s.scheduled.dueAt) > clock.t,
                'after a round, the next visit is in the future',
              );
            }

            const events = await eventsOf(store, 'ops');
            const of = <T extends RecordedEvent['type']>(t: T) =>
              events.filter((e): e is Extract<RecordedEvent, { type: T }> => e.type === t);
            assert.equal(of('project.completed').length, 0, 'a project in operations never completes');
            assert.equal(of('project.operating').length, 1);
            const scheduled = of('visit.scheduled');
            const due = of('visit.due');
            const key = (e: { payload: { phase: string; due_at: string } }) =>
              `${e.payload.phase}@${e.payload.due_at}`;
            assert.equal(new Set(due.map(key)).size, due.length, 'no due time is queued twice');
            assert.equal(
              new Set(scheduled.map(key)).size,
              scheduled.length,
              'no due time is scheduled twice',
            );
            // Every scheduled visit the project has left was queued once; only the last one still waits.
            const queued = new Set(due.map(key));
            assert.deepEqual(scheduled.filter((e) => !queued.has(key(e))).map(key), [key(scheduled.at(-1)!)]);
            // Each due visit has its own ticket, queued once, for the visit it belongs to.
            const tickets = of('ticket.queued');
            for (const d of due) {
              const t = tickets.filter((q) => q.payload.ticket === d.payload.ticket);
              assert.equal(t.length, 1, d.payload.ticket);
              assert.equal(t[0]!.payload.phase, 'watch');
              assert.equal(t[0]!.payload.visit, d.payload.visit);
              assert.ok(Date.parse(d.ts) >= Date.parse(d.payload.due_at), 'never queued before it is due');
            }
            // A visit queued more than its period after it could first run was missed, and only then.
            const missed = new Set(of('schedule.missed').map(key));
            for (const d of due) {
              const s = scheduled.find((x) => key(x) === key(d))!;
              const back = events
                .filter(
                  (e) => (e.type === 'project.created' || e.type === 'project.resumed') && e.seq < d.seq,
                )
                .at(-1)!;
              const late = Date.parse(d.ts) - Math.max(Date.parse(d.payload.due_at), Date.parse(back.ts));
              assert.equal(missed.has(key(d)), late > s.payload.period_ms, `${key(d)}: late ${late} ms`);
            }
            // Due times: never before entry, strictly increasing, on the schedule.
            let last = 0;
            for (const e of scheduled) {
              const at = Date.parse(e.payload.due_at);
              assert.ok(at >= Date.parse(e.ts) && at > last);
              if (sched.yaml.includes('cron')) assert.ok(isCronInstant(sched.yaml, new Date(at)));
              last = at;
            }
            assert.equal((await verifyStore(store.db)).ok, true);
            const live = await dumpProjections(store.db);
            await rebuildProjections(store);
            assert.deepEqual(
              await dumpProjections(store.db),
              live,
              'the projections are the replayed events',
            );
          } finally {
            await store.close();
            const { rmSync } = await import('node:fs');
            rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 30, seed: 20261202, endOnFailure: true },
    );
    assert.equal(runs, 30);
  });

  it('retire ends an operating project on the record; an agent session is refused and the refusal recorded', async () => {
    const dir = tempDir('vt-ops-retire-');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const clock = new SimClock(START);
    const engine = new Engine({ store, io: nodeIo, clock });
    const tickets = new Tickets(engine);
    try {
      const train = parseTrain(opsTrain('{ every: 1h }'), join(dir, 'vt.yaml'));
      await engine.createProject({ id: 'ops', name: 'Ops', workspace: dir, train }, { actor: 'lead-1' });
      const lead = { actor: 'lead-1' };
      // Not operating yet: retiring is refused (cancel is what stops a project before operations).
      await assert.rejects(
        engine.lifecycle('ops', 'retire', 'too early', lead),
        (e: VtError) =>
          e.code === 'INVALID_STATE' && /not operating/.test(e.message) && /vt cancel/.test(e.hint ?? ''),
      );
      await engine.advance('ops', lead); // build → watch: operating, the first visit due at once
      let s = await engine.state('ops');
      assert.equal(s.status, 'operating');
      assert.equal(s.scheduled?.dueAt, new Date(clock.t).toISOString());
      const q = await queueDueVisits(engine);
      assert.equal(q.outcomes.length, 1);
      const claim = await tickets.claimNext('w1', { leaseMs: 60_000 });
      assert.ok(claim);
      const session = await tickets.startSession(claim, {
        role: 'ops',
        executor: 'command',
        workspace: dir,
        log: join(dir, 'log'),
        actor: 'agent:ops',
      });
      const agent = { actor: 'agent:ops', session };
      await assert.rejects(engine.lifecycle('ops', 'retire', 'I think we are done', agent), (e: VtError) => {
        return e.code === 'NOT_PERMITTED' && /agent session cannot retire/.test(e.message);
      });
      const refused = (await eventsOf(store, 'ops')).filter(
        (e) =>
          e.type === 'session.tool-called' && e.payload.tool === 'retire' && e.payload.outcome === 'refused',
      );
      assert.equal(refused.length, 1, 'the refusal is on the record');
      assert.equal((await engine.state('ops')).status, 'operating', 'and changed nothing');
      await assert.rejects(engine.lifecycle('ops', 'retire', '  ', lead), /needs a reason/);

      const c = await engine.lifecycle('ops', 'retire', 'the service is switched off', lead);
      s = c.state;
      assert.equal(s.status, 'retired');
      const types = c.events.map((e) => e.type);
      assert.deepEqual(types, ['project.retired', 'session.ended', 'ticket.finished', 'issue.closed']);
      assert.equal(
        c.events.every((e) => e.actor === 'lead-1'),
        true,
        'the retiring person is on the record',
      );
      const row = await store.db
        .selectFrom('projects')
        .select('status')
        .where('id', '=', 'ops')
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'retired');
      // Ended: nothing falls due, nothing is claimed, nothing reopens it.
      clock.t += 10 * DAY;
      const before = s.seq;
      assert.deepEqual((await queueDueVisits(engine)).outcomes, []);
      assert.equal(await tickets.claimNext('w1', { leaseMs: 60_000 }), null);
      await assert.rejects(
        engine.lifecycle('ops', 'reopen', 'again', lead),
        /retired: retiring ended it for good/,
      );
      await assert.rejects(engine.lifecycle('ops', 'retire', 'again', lead), /retired already/);
      await assert.rejects(engine.lifecycle('ops', 'resume', null, lead), /not on hold/);
      await assert.rejects(tickets.addIssue('ops', { title: 'more' }, lead), /retired: its work has ended/);
      await assert.rejects(engine.tick('ops', 'x', null, lead), /project ops is retired/);
      assert.equal((await engine.state('ops')).seq, before, 'the record ends with the retirement');
      assert.equal((await verifyStore(store.db)).ok, true);
    } finally {
      await store.close();
    }
  });

  it('a train that requires signed decisions refuses an unsigned retire, and nothing changes', async () => {
    const dir = tempDir('vt-ops-signed-');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const engine = new Engine({ store, io: nodeIo, clock: new SimClock(START) });
    try {
      const lead = { actor: 'lead-1' };
      const yaml = opsTrain('{ every: 1h }').replace('people:', 'decisions:\n  signed: required\npeople:');
      const train = parseTrain(yaml, join(dir, 'vt.yaml'));
      await engine.createProject({ id: 'ops', name: 'Ops', workspace: dir, train }, lead);
      await engine.advance('ops', lead);
      const before = await engine.state('ops');
      assert.equal(before.status, 'operating');
      await assert.rejects(
        engine.lifecycle('ops', 'retire', 'switched off', lead),
        (e: VtError) => e.code === 'NOT_PERMITTED' && /retire is not signed/.test(e.message),
      );
      const after = await engine.state('ops');
      assert.equal(after.status, 'operating');
      assert.equal(after.seq, before.seq, 'nothing was recorded');
    } finally {
      await store.close();
    }
  });

  it('an operating project never completes on its own, even when a new train gives it an end', async () => {
    const dir = tempDir('vt-ops-end-');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const clock = new SimClock(START);
    const engine = new Engine({ store, io: nodeIo, clock });
    try {
      const lead = { actor: 'lead-1' };
      const train = parseTrain(opsTrain('{ every: 1h }'), join(dir, 'vt.yaml'));
      await engine.createProject({ id: 'ops', name: 'Ops', workspace: dir, train }, lead);
      await engine.advance('ops', lead); // build → watch: operating
      await engine.setMetric('ops', 'drift', 0.1, lead);
      await engine.advance('ops', lead); // watch → check
      // A train whose check ends it: the project may move to it, but does not complete there.
      const ending = parseTrain(
        opsTrain('{ every: 1h }').replace('    next: watch\n  - id: fix', '    next: null\n  - id: fix'),
      );
      assert.deepEqual(
        lintTrain(ending).map((p) => p.message),
        [],
      );
      await engine.upgrade('ops', ending, 'check ends the train now', lead);
      await assert.rejects(engine.advance('ops', lead), (e: VtError) => {
        return (
          e.code === 'INVALID_STATE' &&
          /operating: a project in operations ends only when a person retires it/.test(e.message)
        );
      });
      const s = await engine.state('ops');
      assert.equal(s.status, 'operating');
      assert.equal(s.phase, 'check');
      assert.equal((await eventsOf(store, 'ops')).filter((e) => e.type === 'project.completed').length, 0);
      // The same train, run by a project that never entered operations for good, completes as before.
      await engine.createProject({ id: 'once', name: 'Once', workspace: dir, train: ending }, lead);
      await engine.advance('once', lead); // build → watch: watch can reach the end, so not operating
      assert.equal((await engine.state('once')).status, 'active');
    } finally {
      await store.close();
    }
  });

  it('a project put on hold and resumed returns to operating; a cancelled one reopens operating', async () => {
    const dir = tempDir('vt-ops-hold-');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const clock = new SimClock(START);
    const engine = new Engine({ store, io: nodeIo, clock });
    try {
      const train = parseTrain(opsTrain('{ every: 1h }'), join(dir, 'vt.yaml'));
      await engine.createProject({ id: 'ops', name: 'Ops', workspace: dir, train }, { actor: 'lead-1' });
      const lead = { actor: 'lead-1' };
      await engine.advance('ops', lead);
      const status = async () =>
        (
          await store.db
            .selectFrom('projects')
            .select('status')
            .where('id', '=', 'ops')
            .executeTakeFirstOrThrow()
        ).status;
      await engine.lifecycle('ops', 'hold', null, lead);
      assert.equal(await status(), 'on-hold');
      await engine.lifecycle('ops', 'resume', null, lead);
      assert.equal((await engine.state('ops')).status, 'operating');
      assert.equal(await status(), 'operating', 'the projection agrees');
      await engine.lifecycle('ops', 'cancel', 'budget cut', lead);
      await engine.lifecycle('ops', 'reopen', 'budget back', lead);
      assert.equal((await engine.state('ops')).status, 'operating');
      assert.equal(await status(), 'operating');
      // On hold when its visit fell due and resumed a day later: queued at once, not counted as missed.
      await engine.lifecycle('ops', 'hold', null, lead);
      clock.t += DAY;
      assert.deepEqual((await queueDueVisits(engine)).outcomes, []);
      await engine.lifecycle('ops', 'resume', null, lead);
      const q = await queueDueVisits(engine);
      assert.equal(q.outcomes.length, 1);
      assert.equal(q.outcomes[0]!.type === 'scheduled' && q.outcomes[0]!.missed, false);
    } finally {
      await store.close();
    }
  });

  it('a due time missed by more than its period is noted, and the webhook rule queues a schedule-missed notification', async () => {
    const dir = tempDir('vt-ops-missed-');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const clock = new SimClock(START);
    const engine = new Engine({ store, io: nodeIo, clock });
    const { webhookOutboxRule } = await import('../src/integrations/webhooks/notification.ts');
    engine.addOutboxRule(
      webhookOutboxRule({ endpoints: [{ id: 'ops', events: null }], drift: [], budgetWarnAt: 0.8 }),
    );
    try {
      const train = parseTrain(opsTrain('{ cron: "0 6 * * 1" }'), join(dir, 'vt.yaml'));
      await engine.createProject({ id: 'ops', name: 'Ops', workspace: dir, train }, { actor: 'lead-1' });
      await engine.advance('ops', { actor: 'lead-1' }); // 2026-03-01 is a Sunday: due Monday 06:00
      const due = (await engine.state('ops')).scheduled!.dueAt;
      assert.equal(due, '2026-03-02T06:00:00.000Z');
      clock.t = Date.parse('2026-03-09T05:00:00.000Z'); // 6 days 23 h late: within the week
      let q = await queueDueVisits(engine);
      assert.equal(q.outcomes.length, 1);
      assert.equal(q.outcomes[0]!.type === 'scheduled' && q.outcomes[0]!.missed, false);
      // Back in watch, the next due time is the Monday after the last one; nobody runs for two weeks.
      const s = await engine.state('ops');
      const claim = await new Tickets(engine).claimNext('w', { leaseMs: 60_000 });
      await new Tickets(engine).finish(claim!, { actor: 'autopilot' }, 1000); // watch → check
      const c2 = await new Tickets(engine).claimNext('w', { leaseMs: 60_000 });
      await new Tickets(engine).finish(c2!, { actor: 'autopilot' }, 1000); // check → watch
      assert.ok(s.seq > 0);
      const next = (await engine.state('ops')).scheduled!;
      assert.equal(next.dueAt, '2026-03-09T06:00:00.000Z');
      clock.t = Date.parse('2026-03-23T07:00:00.000Z');
      q = await queueDueVisits(engine);
      assert.equal(q.outcomes[0]!.type === 'scheduled' && q.outcomes[0]!.missed, true);
      const missed = (await eventsOf(store, 'ops')).filter((e) => e.type === 'schedule.missed');
      assert.equal(missed.length, 1);
      const rows = await store.db
        .selectFrom('outbox')
        .select(['id', 'payload'])
        .where('kind', '=', 'webhook')
        .execute();
      const notes = rows
        .map((r) => JSON.parse(r.payload).notification)
        .filter((n) => n.type === 'schedule-missed');
      assert.deepEqual(notes, [
        {
          type: 'schedule-missed',
          project: 'ops',
          phase: 'watch',
          schedule: 'cron "0 6 * * 1" UTC',
          due_at: '2026-03-09T06:00:00.000Z',
          checked_at: '2026-03-23T07:00:00.000Z',
        },
      ]);
      const row = await store.db
        .selectFrom('scheduled_visits')
        .selectAll()
        .where('due_at', '=', '2026-03-09T06:00:00.000Z')
        .executeTakeFirstOrThrow();
      assert.equal(row.missed, 1);
      assert.equal(row.late_ms, 14 * DAY + HOUR);
      // Asking again, from another engine, queues nothing more.
      const other = new Engine({ store, io: nodeIo, clock });
      assert.deepEqual((await queueDueVisits(other)).outcomes, []);
    } finally {
      await store.close();
    }
  });
});

describe('operations on a SQLite store made before them', () => {
  it('a store made before operating projects takes the new statuses: the table is rebuilt with its rows and indexes', async () => {
    const dir = tempDir('vt-ops-migrate-');
    const file = join(dir, 'vt.db');
    const { default: Database } = await import('better-sqlite3');
    const { Kysely } = await import('kysely');
    const { Migrator } = await import('kysely/migration');
    const { ImmediateSqliteDialect } = await import('../src/store/dialects/sqlite.ts');
    const { MIGRATIONS } = await import('../src/store/migrations/index.ts');
    // The schema as it was before 050, with a status CHECK of the four old statuses.
    const raw = new Database(file);
    const old = new Kysely<unknown>({ dialect: new ImmediateSqliteDialect(raw) });
    const before = Object.fromEntries(Object.entries(MIGRATIONS).filter(([k]) => k < '050'));
    const r = await new Migrator({
      db: old,
      provider: { getMigrations: async () => before },
    }).migrateToLatest();
    assert.equal(r.error, undefined);
    await old.destroy();
    // Today's 001 writes today's statuses: narrow the CHECK to the four the first release had.
    const legacy = new Database(file);
    const schema = legacy
      .prepare("select type, name, sql from sqlite_master where tbl_name = 'projects' and sql is not null")
      .all() as { type: string; name: string; sql: string }[];
    const table = schema.find((x) => x.type === 'table')!.sql;
    const indexes = schema.filter((x) => x.type === 'index');
    assert.ok(indexes.length >= 2, 'projects has indexes to keep');
    legacy.exec(`alter table projects rename to projects_old;
      ${table.replace(/check \(status in \([^)]*\)\)/, "check (status in ('active', 'on-hold', 'cancelled', 'completed'))")};
      insert into projects select * from projects_old; drop table projects_old;
      ${indexes.map((x) => `${x.sql};`).join('\n')}`);
    legacy
      .prepare(
        "insert into projects (id, name, priority, train_hash, workspace, phase, status, visit, transitions, created_at, updated_at, head_seq, head_hash, phase_visit, phase_since) values ('p', 'P', 'now', 'h', '/w', 'ship', 'active', 1, 0, 't', 't', 0, '', 1, 't')",
      )
      .run();
    assert.throws(
      () => legacy.prepare("update projects set status = 'operating' where id = 'p'").run(),
      /CHECK/,
    );
    legacy.close();

    const store = await openStore(file, { synchronous: 'NORMAL' });
    try {
      await store.db.updateTable('projects').set({ status: 'operating' }).where('id', '=', 'p').execute();
      await store.db.updateTable('projects').set({ status: 'retired' }).where('id', '=', 'p').execute();
      await assert.rejects(
        store.db.updateTable('projects').set({ status: 'finished' }).where('id', '=', 'p').execute(),
        /CHECK/,
      );
      const rows = await store.db.selectFrom('projects').select(['id', 'name', 'operating_since']).execute();
      assert.deepEqual(rows, [{ id: 'p', name: 'P', operating_since: null }]);
      const { sql } = await import('kysely');
      const idx = await sql<{
        name: string;
      }>`select name from sqlite_master where type = 'index' and tbl_name = 'projects' and sql is not null order by name`.execute(
        store.db,
      );
      assert.deepEqual(
        idx.rows.map((x) => x.name),
        indexes.map((x) => x.name).sort(),
        'the indexes come back with the table',
      );
    } finally {
      await store.close();
    }
  });
});
