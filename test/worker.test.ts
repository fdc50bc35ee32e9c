import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { verifyStore } from '../src/audit/audit.ts';
import { openStore } from '../src/store/store.ts';
import { runVt, tempDir } from './helpers.ts';
import { BACKENDS, type Backend, dropTestDatabases, freshPgUrl, pgQuery } from './pg.ts';
import { eventsOf, killWorkers, queueWork, removeWorkDirs, startWorker, until } from './worker-helpers.ts';

// Real `vt worker` processes on a real store. Nothing here asserts how long anything took: each
// step waits for an event (a file, a line on stdout, a row) with a generous bound.

// Leases and unwoken waits far longer than any test: whatever happens here happens because of a
// notification or a hand-back, never because a timer ran out.
const LONG_LEASE = ['--lease-ms', '600000'];
const LONG = [...LONG_LEASE, '--poll-ms', '600000'];

// A step that tells the test it started (or its PID) writes outside its worktree, which the sandbox
// does not allow: those workers run without it. The others run sandboxed, as by default.
const OUTSIDE = { VT_SANDBOX: 'none' };

/** The store a test queues its work in: a new PostgreSQL database, or a SQLite file in the folder. */
async function storeFor(backend: Backend): Promise<string | ((dir: string) => string)> {
  return backend === 'postgres' ? await freshPgUrl() : (d: string) => join(d, '.vt', 'vt.db');
}

/** Ticket and session events only: what the queue and the sessions did, without the work's own. */
const queueEvents = (events: Awaited<ReturnType<typeof eventsOf>>, ticket: string) =>
  events.filter(
    (e) =>
      (e.type.startsWith('ticket.') && e.p.ticket === ticket) ||
      (e.type.startsWith('session.') && String(e.p.session ?? '').startsWith(ticket)),
  );

/** End a process this test started (by PID) if it still runs. */
function endPid(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
}

describe('vt worker', () => {
  after(dropTestDatabases);
  afterEach(() => {
    killWorkers();
    removeWorkDirs();
  });

  for (const backend of BACKENDS) {
    describe(`[${backend}]`, () => {
      it('SIGTERM past the grace period hands the ticket back: its session ends abandoned, an idle worker takes it without waiting for the lease', {
        timeout: 300_000,
      }, async () => {
        const { dir, db } = await queueWork(await storeFor(backend), {
          phases: 1,
          projects: ['alpha'],
          issuesPerProject: 1,
        });
        const started = join(dir, 'started');
        const stepPid = join(dir, 'step.pid');
        const a = startWorker(dir, db, 'a', [...LONG, '--grace-ms', '300'], {
          VT_TEST_SLEEP_MS: '600000',
          VT_TEST_STARTED_FILE: started,
          VT_TEST_PID_FILE: stepPid,
          ...OUTSIDE,
        });
        try {
          await until(
            () => existsSync(stepPid),
            120_000,
            () => `a's step to start: ${a.err()}`,
          );
          // On PostgreSQL b sleeps on LISTEN for ten minutes; on SQLite it polls. Either way the
          // lease is ten minutes: only the hand-back makes the ticket claimable again.
          const b = startWorker(
            dir,
            db,
            'b',
            backend === 'postgres' ? LONG : [...LONG_LEASE, '--poll-ms', '100'],
          );
          await until(
            () =>
              b.health()?.state === 'idle' && (backend === 'sqlite' || b.health()?.store.listening === true),
            120_000,
            () => `b idle: ${b.err()}`,
          );
          process.kill(a.child.pid!, 'SIGTERM');
          const ra = await a.done;
          assert.equal(ra.code, 0, a.err());
          assert.match(a.err(), /worker a: draining \(1 ticket\(s\) in flight, 300 ms to finish\)/);
          const ha = a.health();
          assert.equal(ha.state, 'stopped');
          assert.equal(ha.exit_code, 0);
          assert.equal(ha.counts.handed_back, 1);
          assert.deepEqual(ha.in_flight, []);
          await until(
            () => b.events('finished').length === 1,
            120_000,
            () => `b to finish the ticket: ${b.err()}`,
          );
          process.kill(b.child.pid!, 'SIGTERM');
          assert.equal((await b.done).code, 0, b.err());
          assert.equal(b.health().counts.finished, 1);
        } finally {
          if (existsSync(stepPid)) endPid(Number(readFileSync(stepPid, 'utf8')));
        }
        const mine = queueEvents(await eventsOf(db), 'alpha-1-p01');
        assert.deepEqual(
          mine.map((e) => [e.type, e.p.worker ?? e.p.outcome ?? e.p.status ?? null]),
          [
            ['ticket.queued', null],
            ['ticket.claimed', 'a'],
            ['session.started', null],
            ['session.ended', 'abandoned'],
            ['ticket.status', 'queued'],
            ['ticket.claimed', 'b'],
            ['session.started', null],
            ['session.ended', 'succeeded'],
            ['ticket.finished', 'done'],
          ],
        );
        assert.match(mine[4]!.p.reason, /worker a stopped before finishing; handed back/);
        assert.equal(mine[4]!.p.attempts, 0, 'a worker going away is not a failed attempt');
        const store = await openStore(db);
        assert.equal((await verifyStore(store.db)).ok, true);
        assert.deepEqual(await store.db.selectFrom('leases').selectAll().execute(), []);
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });

      it('four workers share 24 tickets over 6 projects; one is SIGKILLed mid-step, another joins, and on PostgreSQL one is frozen (SIGSTOP) past its lease: every ticket done exactly once, no chain forks, late work of the frozen worker refused, vt audit verify clean', {
        timeout: 600_000,
      }, async (t) => {
        const projects = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
        const PHASES = 4;
        const total = projects.length * PHASES;
        const { dir, db } = await queueWork(await storeFor(backend), {
          phases: PHASES,
          projects,
          issuesPerProject: PHASES,
        });
        // A dead worker's ticket passes on when its lease runs out: 4 s, heartbeats every 1.3 s.
        const args = [
          '--lease-ms',
          '4000',
          '--backoff-ms',
          '50',
          ...(backend === 'sqlite' ? ['--poll-ms', '200'] : []),
        ];
        const env = { VT_TEST_SLEEP_MS: '100' };
        const stepPid = join(dir, 'victim.step.pid');
        // The victim's step never ends by itself (a wedged job): it is surely mid-step when killed.
        const victim = startWorker(dir, db, 'victim', args, {
          VT_TEST_SLEEP_MS: '600000',
          VT_TEST_PID_FILE: stepPid,
          ...OUTSIDE,
        });
        // On PostgreSQL w3 is also frozen (SIGSTOP) mid-step past its lease: its steps take a while.
        const frozenStarted = join(dir, 'w3.started');
        const live = ['w1', 'w2', 'w3'].map((n) =>
          startWorker(
            dir,
            db,
            n,
            args,
            n === 'w3' && backend === 'postgres'
              ? { VT_TEST_SLEEP_MS: '1500', VT_TEST_STARTED_FILE: frozenStarted, ...OUTSIDE }
              : env,
          ),
        );
        const w3 = live[2]!;
        let held = '';
        let frozen: string | undefined;
        const progress = async () => {
          const store = await openStore(db);
          try {
            return await store.db.selectFrom('tickets').select(['id', 'status', 'attempts']).execute();
          } finally {
            await store.close();
          }
        };
        let last: Awaited<ReturnType<typeof progress>> = [];
        try {
          await until(
            () => existsSync(stepPid),
            120_000,
            () => `the victim's step to start: ${victim.err()}`,
          );
          const claims = victim.events('claimed');
          assert.equal(claims.length, 1, victim.out());
          held = claims[0]!.ticket;
          // Kill it while the others are working: once they have finished two tickets between them.
          await until(
            () => live.reduce((n, w) => n + w.events('finished').length, 0) >= 2,
            120_000,
            () => `the others to get going: ${live.map((w) => w.err()).join('\n')}`,
          );
          process.kill(victim.child.pid!, 'SIGKILL');
          assert.equal((await victim.done).signal, 'SIGKILL');
          live.push(startWorker(dir, db, 'w4', args, env));
          if (backend === 'postgres') {
            // Freeze w3 while it holds a ticket (its step runs 1.5 s; a SIGSTOP does not reach the
            // step, which finishes, but w3 can neither heartbeat nor commit). A frozen worker holds
            // no one up: the rest of the queue, its ticket included, is done while it stays frozen.
            await until(
              () => existsSync(frozenStarted),
              120_000,
              () => `w3's step to start: ${w3.err()}`,
            );
            process.kill(w3.child.pid!, 'SIGSTOP');
            const ended = new Set(
              ['finished', 'failed', 'waiting', 'lost', 'handed-back'].flatMap((k) =>
                w3.events(k).map((e) => e.ticket),
              ),
            );
            frozen = w3
              .events('claimed')
              .map((e) => e.ticket)
              .findLast((x: string) => !ended.has(x));
            t.diagnostic(`w3 frozen holding ${frozen ?? 'nothing (its step had just ended)'}`);
          }
          await until(
            async () => {
              last = await progress();
              return last.length === total && last.every((x) => x.status === 'done');
            },
            480_000,
            () => `every ticket done: ${JSON.stringify(last.filter((x) => x.status !== 'done'))}`,
            500,
          );
          if (backend === 'postgres') {
            process.kill(w3.child.pid!, 'SIGCONT');
            // Woken past its lease, w3 finds it gone: its heartbeat and its commit are refused.
            if (frozen)
              await until(
                () => w3.events('lost').some((e) => e.ticket === frozen),
                120_000,
                () => `w3 to find its lease gone: ${w3.err()}`,
              );
          }
          for (const w of live) process.kill(w.child.pid!, 'SIGTERM');
          // A worker that lost a lease says so in its exit code. On PostgreSQL a SIGSTOP that lands
          // while w3 holds a row lock inside a commit stalls the writers that need that row until the
          // server ends w3's idle transaction; one of them may then lose its ticket to a statement
          // timeout (said on its stderr), and that ticket is taken over like any other: the checks
          // below still require every ticket done exactly once.
          for (const w of live) {
            const { code } = await w.done;
            if (w === w3 && frozen) assert.equal(code, 1, w.err());
            else if (code !== 0) {
              assert.equal(code, 1, w.err());
              assert.equal(backend, 'postgres', w.err());
              assert.match(w.err(), /statement timeout/, w.err());
              t.diagnostic(`a worker lost a ticket while w3 was frozen in a commit:\n${w.err()}`);
            }
          }
        } finally {
          if (w3.child.exitCode === null && w3.child.signalCode === null) endPid(w3.child.pid!);
          if (existsSync(stepPid)) endPid(Number(readFileSync(stepPid, 'utf8')));
        }

        const events = await eventsOf(db);
        const finished = events.filter((e) => e.type === 'ticket.finished');
        assert.equal(finished.length, total);
        assert.equal(new Set(finished.map((e) => e.p.ticket)).size, total, 'no ticket finished twice');
        const claims = events.filter((e) => e.type === 'ticket.claimed');
        const perWorker: Record<string, number> = {};
        for (const c of claims) perWorker[c.p.worker] = (perWorker[c.p.worker] ?? 0) + 1;
        t.diagnostic(`claims per worker: ${JSON.stringify(perWorker)}`);
        // The victim's ticket passed to a live worker once its lease ran out, and finished there.
        const heldClaims = claims.filter((c) => c.p.ticket === held).map((c) => c.p.worker);
        assert.equal(heldClaims[0], 'victim');
        assert.equal(heldClaims.length, 2, JSON.stringify(heldClaims));
        assert.notEqual(heldClaims[1], 'victim');
        if (frozen) {
          // The frozen worker's ticket passed on while it was frozen; none of its late work counts.
          const byClaim = claims.filter((c) => c.p.ticket === frozen).map((c) => c.p.worker);
          assert.equal(byClaim[0], 'w3');
          assert.equal(byClaim.length, 2, JSON.stringify(byClaim));
          assert.notEqual(byClaim[1], 'w3');
          assert.equal(w3.health().counts.lost, 1);
        }
        assert.ok(
          events.some(
            (e) =>
              e.type === 'session.ended' &&
              e.p.outcome === 'abandoned' &&
              String(e.p.session).startsWith(held),
          ),
          "the victim's session is closed as abandoned",
        );

        const store = await openStore(db);
        try {
          for (const p of projects) {
            // No fork: the chain is one line, seq 1..n, each event naming the one before it.
            const chain = events.filter((e) => e.project_id === p);
            const rows = await store.db
              .selectFrom('events')
              .select(['seq', 'prev_hash', 'hash'])
              .where('project_id', '=', p)
              .orderBy('seq')
              .execute();
            assert.deepEqual(
              rows.map((r) => r.seq),
              Array.from({ length: chain.length }, (_, i) => i + 1),
            );
            for (let i = 1; i < rows.length; i++)
              assert.equal(rows[i]!.prev_hash, rows[i - 1]!.hash, `${p}#${i + 1}`);
            const tr = await store.db
              .selectFrom('transitions')
              .select(['n', 'to_phase'])
              .where('project_id', '=', p)
              .orderBy('n')
              .execute();
            assert.deepEqual(
              tr.map((x) => x.n),
              Array.from({ length: PHASES }, (_, i) => i + 1),
              `${p}: each transition once`,
            );
            assert.equal(tr.at(-1)!.to_phase, null);
            const status = await store.db
              .selectFrom('projects')
              .select('status')
              .where('id', '=', p)
              .executeTakeFirstOrThrow();
            assert.equal(status.status, 'completed');
          }
          assert.equal(
            new Set(events.map((e) => e.gseq)).size,
            events.length,
            'one commit position per event',
          );
          assert.deepEqual(await store.db.selectFrom('leases').selectAll().execute(), []);
        } finally {
          await store.close();
        }
        const verify = await runVt(['audit', 'verify'], { cwd: dir, env: { VT_DATABASE_URL: db } });
        assert.equal(verify.code, 0, verify.stderr);
        assert.match(
          verify.stderr + verify.stdout,
          new RegExp(`${events.length} events in ${projects.length} chains\\b`),
        );
        rmSync(dir, { recursive: true, force: true });
      });
    });
  }

  it('[postgres] SIGTERM within the grace period lets the ticket finish; an idle worker is woken by a new issue (NOTIFY); health lines and file follow each state', {
    timeout: 300_000,
  }, async () => {
    const url = await freshPgUrl();
    const { dir } = await queueWork(url, { phases: 1, projects: ['alpha'], issuesPerProject: 1 });
    const started = join(dir, 'started');
    const a = startWorker(dir, url, 'a', [...LONG, '--grace-ms', '600000'], {
      VT_TEST_SLEEP_MS: '1500',
      VT_TEST_STARTED_FILE: started,
      ...OUTSIDE,
    });
    await until(
      () => existsSync(started),
      120_000,
      () => `the step to start: ${a.err()}`,
    );
    process.kill(a.child.pid!, 'SIGTERM');
    assert.equal((await a.done).code, 0, a.err());
    assert.equal(a.events('finished').length, 1, 'the ticket finished within the grace period');
    assert.equal(a.health().counts.handed_back, 0);
    const states = [...a.err().matchAll(/^\d{4}-\S+ worker a: (\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(states, ['starting', 'listening', 'working', 'draining', 'stopped'], a.err());

    // An idle worker sleeps on LISTEN with a ten-minute poll: a new issue (a NOTIFY in its
    // transaction) is the only thing that can wake it. alpha is completed; beta has no work yet.
    const env = { VT_DATABASE_URL: url };
    const create = await runVt(['project', 'create', 'beta'], { cwd: dir, env });
    assert.equal(create.code, 0, create.stderr);
    const b = startWorker(dir, url, 'b', LONG);
    await until(
      () => b.health()?.state === 'idle' && b.health()?.store.listening === true,
      120_000,
      () => `b idle: ${b.err()}`,
    );
    assert.equal(b.health().store.wake, 'notify');
    assert.equal(b.events('claimed').length, 0);
    const add = await runVt(['issue', 'add', 'more', '-p', 'beta'], { cwd: dir, env });
    assert.equal(add.code, 0, add.stderr);
    await until(
      () => b.events('claimed').length === 1,
      120_000,
      () => `b to be woken and claim: ${b.err()}`,
    );
    await until(
      () => b.health()?.state === 'idle',
      120_000,
      () => `b idle again: ${b.err()}`,
    );
    process.kill(b.child.pid!, 'SIGTERM');
    assert.equal((await b.done).code, 0, b.err());
    assert.equal(b.health().counts.finished, 1);
    rmSync(dir, { recursive: true, force: true });
  });

  it('[postgres] a connection the server ends while its transaction waits (a worker stopped past the idle-in-transaction timeout) fails that transaction, not the process', {
    timeout: 120_000,
  }, async () => {
    const url = await freshPgUrl();
    const store = await openStore(url);
    try {
      const tx = store.db.transaction().execute(async (trx) => {
        const me = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        const pid = me.rows[0]!.pid;
        // The server ends this connection while the client holds it idle in its transaction, as
        // idle_in_transaction_session_timeout does to a frozen worker.
        await pgQuery(url, 'select pg_terminate_backend($1, 60000)', [pid]);
        // Give the client the chance to read the server's goodbye while no query is running: an
        // unhandled 'error' on a checked-out client would end this process here.
        for (let i = 0; i < 20; i++) await sleep(25);
        await sql`select 1`.execute(trx);
      });
      await assert.rejects(tx);
      // The pool drops the broken connection and goes on with a new one.
      const r = await sql<{ one: number }>`select 1 as one`.execute(store.db);
      assert.equal(r.rows[0]!.one, 1);
    } finally {
      await store.close();
    }
  });

  it('[sqlite] a worker polls; bad options are refused with exit 2; --help shows examples and exit codes', {
    timeout: 300_000,
  }, async () => {
    const { dir, db } = await queueWork((d) => join(d, '.vt', 'vt.db'), {
      phases: 2,
      projects: ['solo'],
      issuesPerProject: 1,
    });
    const w = startWorker(dir, db, 'w', ['--poll-ms', '50']);
    // One issue at the first phase: the project walks both phases, a ticket each.
    await until(
      () => w.events('finished').length === 2 && w.health()?.state === 'idle',
      120_000,
      () => `work done: ${w.err()}`,
    );
    assert.equal(w.health().store.wake, 'poll');
    assert.equal(w.health().store.listening, null);
    process.kill(w.child.pid!, 'SIGINT');
    assert.equal((await w.done).code, 0, w.err());
    const bad = await runVt(['worker', '--lease-ms', '5'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--lease-ms must be an integer ≥ 100/);
    const empty = tempDir();
    const help = await runVt(['worker', '--help'], { cwd: empty });
    assert.match(help.stdout, /Examples:\n {2}vt worker /);
    assert.match(help.stdout, /Exit codes: 0 stopped by a signal/);
    rmSync(empty, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });
});
