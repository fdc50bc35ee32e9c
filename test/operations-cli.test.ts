// `vt plan` and `vt retire` through the real CLI, and several `vt autopilot` processes racing for one
// overdue scheduled visit: it is queued once, noted as missed once, and notified once.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import type { Clock } from '../src/engine/engine.ts';
import { Engine } from '../src/engine/engine.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { backendEnv, folderStore, ROOT, runVt, spawnCollect, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const VT = join(ROOT, 'bin', 'vt.js');

/** build → watch (scheduled) → check → watch; every role played by a command that succeeds. */
function train(schedule: string): string {
  return `version: 1
name: ops-cli
roles:
  - id: ops
    name: Ops
    executor: { kind: command, run: ["{node}", "-e", "0"], timeout_s: 60 }
metrics:
  - { id: drift }
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
      - { when: "drift > 0.5", to: build, reason: drift }
    next: check
  - id: check
    name: Check
    stage: operations
    owner: ops
    next: watch
`;
}

/** The first Monday 06:00 UTC at or after `ts`, by calendar arithmetic. */
function mondayAtSixFrom(ts: number): string {
  const d = new Date(ts);
  for (let day = 0; day < 8; day++) {
    const t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + day, 6, 0, 0);
    if (new Date(t).getUTCDay() === 1 && t >= ts) return new Date(t).toISOString();
  }
  throw new Error('unreachable');
}

const vt = (dir: string, ...args: string[]) => runVt(args, { cwd: dir });
const ok = async (dir: string, ...args: string[]) => {
  const r = await vt(dir, ...args);
  assert.equal(r.code, 0, `vt ${args.join(' ')}: ${r.stderr}`);
  return r;
};

describeOnBackends('vt plan and vt retire', () => {
  it('vt plan shows when the waiting visit falls due (JSON and plain), queues nothing early, and plans a project with no work', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir('vt-plan-');
    writeFileSync(join(dir, 'vt.yaml'), train('{ cron: "0 6 * * 1" }'));
    await ok(dir, 'project', 'create', 'Ops', '--as', 'lead-1');
    await ok(dir, 'advance', 'ops', '--as', 'lead-1');
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const entered = await store.db
      .selectFrom('events')
      .select('ts')
      .where('type', '=', 'phase.advanced')
      .executeTakeFirstOrThrow();
    await store.close();
    const due = mondayAtSixFrom(Date.parse(entered.ts));
    const waiting = {
      project: 'ops',
      status: 'operating',
      phase: 'watch',
      next: 'visit',
      ticket: null,
      ticket_status: null,
      schedule: 'cron "0 6 * * 1" UTC',
      due_at: due,
      overdue: false,
    };
    assert.deepEqual(JSON.parse((await ok(dir, 'plan', '--json')).stdout), [waiting]);
    const plain = await ok(dir, 'plan');
    assert.equal(plain.stdout, `ops\t⟳ operating\twatch\tscheduled visit, cron "0 6 * * 1" UTC\t${due}\n`);
    const one = await ok(dir, 'plan', 'ops', '--json');
    assert.deepEqual(JSON.parse(one.stdout), { ...waiting, queued: false });
    assert.match(one.stderr, new RegExp(`ops waits in watch: its visit falls due ${due}`));
    assert.deepEqual(
      JSON.parse((await ok(dir, 'issue', 'list', '--json')).stdout),
      [],
      'nothing queued early',
    );
    const status = JSON.parse((await ok(dir, 'status', 'ops', '--json')).stdout);
    assert.deepEqual(status.schedule, {
      phase: 'watch',
      schedule: 'cron "0 6 * * 1" UTC',
      due_at: due,
      ticket: null,
    });
    assert.match(
      (await ok(dir, 'status', 'ops')).stdout,
      new RegExp(`waiting: the visit of watch falls due ${due}`),
    );

    // A project with no work queued: vt plan PROJECT queues its phase's ticket, as before.
    await ok(dir, 'project', 'create', 'Early', '--as', 'lead-1');
    const before = JSON.parse((await ok(dir, 'plan', '--json')).stdout);
    assert.deepEqual(
      before.map((r: { project: string; next: string }) => [r.project, r.next]),
      [
        ['ops', 'visit'],
        ['early', 'nothing'],
      ],
    );
    const planned = JSON.parse((await ok(dir, 'plan', 'early', '--json')).stdout);
    assert.deepEqual(
      [planned.next, planned.ticket, planned.ticket_status, planned.queued],
      ['ticket', 'early-1-build', 'queued', true],
    );
    const again = JSON.parse((await ok(dir, 'plan', 'early', '--json')).stdout);
    assert.equal(again.queued, false, 'planning twice queues nothing more');
    const rows = JSON.parse((await ok(dir, 'plan', '--json')).stdout);
    assert.deepEqual(
      rows.map((r: { project: string; next: string }) => [r.project, r.next]),
      [
        ['early', 'ticket'],
        ['ops', 'visit'],
      ],
      'work queued now first, then visits by due time',
    );
    const missing = await vt(dir, 'plan', 'nope');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no project "nope"/);
    assert.match((await ok(dir, 'plan', '--help')).stdout, /Examples:\n {2}vt plan /);
  });

  it('vt retire: a reason is required, only an operating project retires, and retiring is final', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir('vt-retire-');
    writeFileSync(join(dir, 'vt.yaml'), train('{ every: 1d }'));
    await ok(dir, 'project', 'create', 'Ops', '--as', 'lead-1');
    await ok(dir, 'project', 'create', 'Early', '--as', 'lead-1');
    await ok(dir, 'advance', 'ops', '--as', 'lead-1');
    assert.match((await ok(dir, 'retire', '--help')).stdout, /Example:\n {2}vt retire /);

    const noReason = await vt(dir, 'retire', 'ops');
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /--reason/);
    const early = await vt(dir, 'retire', 'early', '--reason', 'never mind');
    assert.equal(early.code, 2);
    assert.match(early.stderr, /early is active, not operating: only a project in operations is retired/);
    assert.match(early.stderr, /vt cancel early --reason/);

    const retired = await ok(
      dir,
      'retire',
      'ops',
      '--reason',
      'the service is switched off',
      '--json',
      '--as',
      'lead-1',
    );
    assert.deepEqual(JSON.parse(retired.stdout), { project: 'ops', status: 'retired', phase: 'watch' });
    assert.match(retired.stderr, /ops is ∎ retired \(in watch\): the service is switched off/);
    const status = JSON.parse((await ok(dir, 'status', 'ops', '--json')).stdout);
    assert.equal(status.status, 'retired');
    const log = await ok(dir, 'audit', 'log', 'ops', '--json');
    const retiredEvents = (JSON.parse(log.stdout) as { type: string; actor: string }[]).filter(
      (e) => e.type === 'project.retired',
    );
    assert.equal(retiredEvents.length, 1);
    assert.equal(retiredEvents[0]!.actor, 'lead-1');

    for (const [args, re] of [
      [['retire', 'ops', '--reason', 'again'], /ops is retired already/],
      [['reopen', 'ops', '--reason', 'undo'], /retiring ended it for good/],
      [['plan', 'ops'], /ops is retired: its work has ended/],
      [['tick', 'ops', 'x'], /project ops is retired/],
    ] as [string[], RegExp][]) {
      const r = await vt(dir, ...args);
      assert.equal(r.code, 2, `vt ${args.join(' ')}`);
      assert.match(r.stderr, re);
    }
    assert.deepEqual(
      JSON.parse((await ok(dir, 'plan', '--json')).stdout).map((r: { project: string }) => r.project),
      ['early'],
      'a retired project is no longer planned',
    );
    await ok(dir, 'audit', 'verify');
  });

  it('an overdue visit shows as overdue; vt plan PROJECT queues it once and notes it missed', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir('vt-overdue-');
    writeFileSync(join(dir, 'vt.yaml'), train('{ every: 1d }'));
    await pastProject(dir, 'ops');
    const rows = JSON.parse((await ok(dir, 'plan', '--json')).stdout);
    assert.equal(rows[0].overdue, true);
    assert.equal(rows[0].due_at, '2026-01-05T00:00:00.000Z');
    const plain = await ok(dir, 'plan');
    assert.match(
      plain.stdout,
      /^ops\t⟳ operating\twatch\tscheduled visit, every 1d\t2026-01-05T00:00:00.000Z\n$/,
    );
    const planned = JSON.parse((await ok(dir, 'plan', 'ops', '--json')).stdout);
    assert.deepEqual([planned.next, planned.ticket, planned.queued], ['ticket', 'ops-1-watch', true]);
    const again = JSON.parse((await ok(dir, 'plan', 'ops', '--json')).stdout);
    assert.deepEqual([again.ticket, again.queued], ['ops-1-watch', false]);
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    const types = (
      await store.db.selectFrom('events').select(['type', 'actor']).orderBy('seq').execute()
    ).filter((e) => e.type === 'schedule.missed' || e.type === 'visit.due');
    await store.close();
    assert.deepEqual(types, [
      { type: 'schedule.missed', actor: 'scheduler' },
      { type: 'visit.due', actor: 'scheduler' },
    ]);
  });
});

/** A project that entered its scheduled phase on 2026-01-05 (every 1d: due at once) and was left there. */
async function pastProject(dir: string, id: string): Promise<void> {
  const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
  const clock: Clock = { now: () => new Date('2026-01-05T00:00:00.000Z') };
  const engine = new Engine({ store, io: nodeIo, clock });
  const loaded = parseTrain(train('{ every: 1d }'), join(dir, 'vt.yaml'));
  await engine.createProject({ id, name: id, workspace: dir, train: loaded }, { actor: 'lead-1' });
  await engine.advance(id, { actor: 'lead-1' });
  await store.close();
}

describeOnBackends('several autopilots and many overdue visits', () => {
  it('three vt autopilot processes queue each overdue visit once, note it missed once, and notify once', {
    timeout: 300_000,
  }, async () => {
    const dir = tempDir('vt-sched-race-');
    writeFileSync(join(dir, 'vt.yaml'), train('{ every: 1d }'));
    // Many projects, so the processes go through the same list of due visits at the same time.
    const ids = Array.from({ length: 12 }, (_, i) => `ops${String(i + 1).padStart(2, '0')}`);
    for (const id of ids) await pastProject(dir, id);
    const env = {
      ...(await backendEnv(dir)),
      NO_COLOR: '1',
      VT_SQLITE_SYNCHRONOUS: 'NORMAL',
      // A receiver that is not there: the notification must be in the outbox once, delivered or not.
      VT_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      VT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    };
    const runs = [1, 2, 3].map(() =>
      spawnCollect([VT, 'autopilot', '--json', '--workspaces', 'folder', '--concurrency', '2'], {
        cwd: dir,
        env,
      }),
    );
    const ends = await Promise.all(runs.map((r) => r.done));
    const summaries = runs.map((r, i) => {
      assert.equal(ends[i]!.code, 0, r.err());
      const line = r
        .out()
        .split('\n')
        .find((l) => l.includes('"type":"summary"'));
      assert.ok(line, r.out());
      return JSON.parse(line) as { scheduled: number; missed: number; next_due: string | null };
    });
    assert.equal(
      summaries.reduce((n, s) => n + s.scheduled, 0),
      ids.length,
      'each visit queued by one process',
    );
    assert.equal(
      summaries.reduce((n, s) => n + s.missed, 0),
      ids.length,
    );
    const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
    try {
      for (const id of ids) {
        const events = await store.db
          .selectFrom('events')
          .select(['type', 'payload'])
          .where('project_id', '=', id)
          .orderBy('seq')
          .execute();
        const of = (t: string) => events.filter((e) => e.type === t).map((e) => JSON.parse(e.payload));
        assert.deepEqual(
          of('visit.due').map((d) => [d.due_at, d.ticket]),
          [['2026-01-05T00:00:00.000Z', `${id}-1-watch`]],
          id,
        );
        assert.equal(of('schedule.missed').length, 1, id);
        assert.equal(of('ticket.queued').filter((t) => t.phase === 'watch').length, 1, id);
        // The cycle went on (watch → check → watch) and now waits for the next due time, in the future.
        const scheduled = of('visit.scheduled');
        assert.equal(scheduled.length, 2, id);
        const next = Date.parse(scheduled[1].due_at);
        assert.ok(next > Date.now() - 60_000, id);
        assert.equal((next - Date.parse(scheduled[0].due_at)) % 86_400_000, 0, 'every 1d keeps its rhythm');
      }
      const outbox = await store.db
        .selectFrom('outbox')
        .select('payload')
        .where('kind', '=', 'webhook')
        .execute();
      const notes = outbox
        .map((r) => JSON.parse(r.payload).notification)
        .filter((n) => n.type === 'schedule-missed');
      assert.deepEqual(notes.map((n) => n.project).sort(), ids, 'one notification per missed visit');
      const projects = await store.db.selectFrom('projects').select(['status', 'phase']).execute();
      assert.ok(projects.every((p) => p.status === 'operating' && p.phase === 'watch'));
      const waiting = await store.db
        .selectFrom('scheduled_visits')
        .select((eb) => eb.fn.min('due_at').as('next'))
        .where('ticket', 'is', null)
        .executeTakeFirstOrThrow();
      assert.ok(
        summaries.every((s) => s.next_due === waiting.next),
        'every process names the next due time',
      );
    } finally {
      await store.close();
    }
    assert.equal((await vt(dir, 'audit', 'verify')).code, 0);
  });
});
