import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import {
  alive,
  chainsOf,
  handoffMismatches,
  heldBy,
  onProgress,
  type Progress,
  StoreReader,
  seeded,
  storeViolations,
} from './chaos-helpers.ts';
import { ROOT, runVt } from './helpers.ts';
import { checkHistory, History, type Op, readHistory } from './jepsen-history.ts';
import { pgQuery } from './pg.ts';
import {
  eventsOf,
  killWorkers,
  queueWork,
  removeWorkDirs,
  startWorker,
  until,
  type Worker,
} from './worker-helpers.ts';

// A Jepsen-style run: three `vt worker` processes on a PostgreSQL server of their own (loopback)
// while a client keeps writing through the CLI and a nemesis kills (SIGKILL) or pauses (SIGSTOP) a
// random worker every few seconds, crashes and restarts the server once (`pg_ctl stop -m
// immediate`), and runs one worker on a skewed clock (libfaketime). Every operation and fault goes
// into a history file (JSON lines, monotonic times), which checkHistory holds against the store's
// events afterwards. Nothing asserts how far the work got in a time: the nemesis runs for a time,
// then the test waits for the work to settle, with generous bounds.

/** Seconds of nemesis (VT_JEPSEN_SECONDS shortens it for a local run). */
const SECONDS = Number(process.env.VT_JEPSEN_SECONDS) || 300;
const PG = join(ROOT, 'scripts', 'pg-throwaway.sh');
// Debian's faketime package; LD_PRELOAD directly, as the faketime wrapper forks and would take the
// signals meant for the worker.
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const PHASES = 4;
const ARGS = ['--lease-ms', '3000', '--backoff-ms', '100'];
const ENV = { VT_TEST_SLEEP_MS: '100' };
// The client adds work while fewer than this many projects are under way and tickets are open.
const ACTIVE_PROJECTS = 6;
const OPEN_TICKETS = 10;
const WAIT = 200_000;

/**
 * A PostgreSQL server of the test's own (scripts/pg-throwaway.sh, its settings: fsync and
 * synchronous_commit off), which the test may crash and restart; stopped when the process exits.
 */
function ownServer() {
  const parent = mkdtempSync('/tmp/vt-jepsen-pg-');
  chmodSync(parent, 0o755); // initdb runs as the postgres user
  const srv = join(parent, 'srv');
  const run = (...a: string[]) => execFileSync('bash', [PG, ...a], { encoding: 'utf8' }).trim();
  const stop = () => {
    try {
      run('stop', srv);
    } catch {}
    rmSync(parent, { recursive: true, force: true });
  };
  process.on('exit', stop);
  let url = '';
  for (let tries = 0; !url; tries++) {
    try {
      url = run('start', srv, String(randomInt(20000, 60000)), 'vt_jepsen');
    } catch (err) {
      if (tries >= 3) throw err; // a port taken: try another
    }
  }
  return {
    url,
    /** pg_ctl stop -m immediate: the server goes as a crash would take it. */
    crash: () => run('crash', srv),
    restart: () => run('restart', srv),
    stop: () => {
      stop();
      process.off('exit', stop);
    },
  };
}

interface Member {
  name: string;
  slot: string;
  w: Worker;
  seen: Progress[];
  paused: boolean;
}

describe('jepsen: vt workers on PostgreSQL under kills, pauses, a server crash and a skewed clock', () => {
  afterEach(() => {
    killWorkers();
    removeWorkDirs();
  });

  it('acknowledged commits survive a server crash (pg_ctl stop -m immediate) although the server runs with synchronous_commit off: vt commits synchronously on its own sessions', {
    timeout: 120_000,
  }, async (t) => {
    const server = ownServer();
    try {
      const projects = ['p1', 'p2', 'p3', 'p4'];
      await queueWork(server.url, { phases: 1, projects, issuesPerProject: 0 });
      const setting = async (db: Store['db']) =>
        (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(db)).rows[0]!
          .synchronous_commit;
      assert.equal(
        (await pgQuery(server.url, 'show synchronous_commit')).rows[0].synchronous_commit,
        'off',
        "the server's own setting",
      );
      const rng = seeded('VT_JEPSEN_SEED');
      let acked = 0;
      const lost: string[] = [];
      for (let trial = 1; trial <= 3; trial++) {
        const store = await openStore(server.url);
        assert.equal(await setting(store.db), 'on', "vt's session");
        const tickets = new Tickets(new Engine({ store, io: nodeIo }));
        const ack: string[] = [];
        let stop = false;
        // Four writers, one a project; each write is acknowledged when addContext returns.
        const writers = projects.map(async (p) => {
          for (let i = 0; !stop; i++) {
            const text = `trial ${trial} ${p} ${i}`;
            try {
              await tickets.addContext(p, { kind: 'note', text }, { actor: 'lead-1' });
            } catch {
              return;
            }
            ack.push(text);
          }
        });
        // The crash lands in the middle of the stream, once a seeded number of writes were acknowledged.
        const at = rng.int(100, 400);
        await until(() => ack.length >= at, 120_000, `${at} writes acknowledged`);
        server.crash();
        stop = true;
        await Promise.all(writers);
        await store.close().catch(() => {});
        server.restart();
        const have = new Set((await eventsOf(server.url, 'context.added')).map((e) => e.p.text as string));
        lost.push(...ack.filter((x) => !have.has(x)));
        acked += ack.length;
      }
      t.diagnostic(`${acked} writes acknowledged over 3 crashes, ${lost.length} lost`);
      assert.deepEqual(lost, [], 'no acknowledged write lost');
    } finally {
      server.stop();
    }
  });

  it(`three workers for ${SECONDS} s of nemesis (SIGKILL or SIGSTOP every few seconds, one pg_ctl stop -m immediate, one worker's clock skewed with faketime): no acknowledged write lost, no transition twice, no stale commit, every ticket done or blocked; the history file checks against the store`, {
    timeout: (SECONDS + 240) * 1000,
  }, async (t) => {
    assert.ok(existsSync(LIBFAKETIME), `needs ${LIBFAKETIME}: apt-get install -y faketime`);
    const rng = seeded('VT_JEPSEN_SEED');
    const clientRng = seeded('VT_JEPSEN_SEED');
    for (let i = 0; i < 1000; i++) clientRng.next(); // another stream from the same seed
    const say = (s: string) => t.diagnostic(s);
    const kept = process.env.VT_JEPSEN_HISTORY_DIR;
    const histDir = kept ?? mkdtempSync(join(tmpdir(), 'vt-jepsen-'));
    mkdirSync(histDir, { recursive: true });
    const history = new History(join(histDir, `history-${rng.seed}.jsonl`));
    process.stderr.write(
      `# jepsen: seed ${rng.seed} (replay with ${rng.replay}); history in ${history.file}\n`,
    );
    say(`seed ${rng.seed} (replay with ${rng.replay}); history in ${history.file}`);

    // The server: its own, as it is crashed and restarted. It runs as the throwaway script makes it,
    // synchronous_commit off: vt's own sessions commit synchronously all the same.
    const server = ownServer();
    const url = server.url;

    const reader = new StoreReader(url);
    const fleet: Member[] = [];
    let passed = false;
    let stopClient = false;
    try {
      const { dir } = await queueWork(url, {
        phases: PHASES,
        projects: ['seed-a', 'seed-b', 'seed-c'],
        issuesPerProject: PHASES,
      });

      // One slot runs on a skewed clock, minutes off either way: leases and fencing use the
      // database's clock, so it must change nothing.
      const skew = rng.pick([-1, 1]) * rng.int(120, 900);
      const skewEnv = { LD_PRELOAD: LIBFAKETIME, FAKETIME: `${skew > 0 ? '+' : ''}${skew}` };
      history.record('nemesis', 'info', 'skew', { slot: 'c', seconds: skew });
      const incarnation: Record<string, number> = {};
      const launch = (slot: string) => {
        const name = `${slot}${(incarnation[slot] = (incarnation[slot] ?? 0) + 1)}`;
        const w = startWorker(dir, url, name, ARGS, { ...ENV, ...(slot === 'c' ? skewEnv : {}) });
        const m: Member = { name, slot, w, seen: [], paused: false };
        history.record('nemesis', 'info', 'start', { worker: name, pid: w.child.pid ?? null });
        onProgress(w, (e, at) => {
          m.seen.push(e);
          const v = { ticket: e.ticket ?? null };
          if (e.type === 'claimed') history.record(name, 'invoke', 'ticket', { ...v, mode: e.mode }, at);
          else if (e.type === 'session')
            history.record(name, 'ok', 'session', { ...v, session: e.session }, at);
          else if (e.type === 'finished')
            history.record(name, 'ok', 'ticket', { ...v, outcome: e.outcome }, at);
          else if (e.type === 'failed' || e.type === 'handed-back')
            history.record(name, 'fail', 'ticket', { ...v, reason: e.reason }, at);
          // A lost ticket may have committed (a connection cut after the commit): unknown.
          else if (e.type === 'lost' || e.type === 'waiting')
            history.record(name, 'info', 'ticket', { ...v, reason: e.reason }, at);
          else if (e.type === 'store-error')
            history.record(name, 'info', 'store-error', { reason: e.reason }, at);
        });
        fleet.push(m);
        return m;
      };
      for (const slot of ['a', 'b', 'c']) launch(slot);
      const live = () => fleet.filter((m) => alive(m.w));

      // The client: CLI writes, each with an idempotency key, retried with the same key until the
      // answer is sure (0: done; 2: refused); an exit for any other reason leaves it unknown.
      let op = 0;
      const write = async (f: string, value: Record<string, unknown>, argv: string[]) => {
        const key = `j${rng.seed}-${++op}`;
        history.record('client', 'invoke', f, { ...value, key });
        for (let attempt = 1; attempt <= 40; attempt++) {
          const r = await runVt(['--idempotency-key', key, ...argv], {
            cwd: dir,
            env: { VT_DATABASE_URL: url },
          });
          if (r.code === 0) {
            history.record('client', 'ok', f, { ...value, key, attempt });
            return true;
          }
          const reason = r.stderr.trim().split('\n')[0]?.slice(0, 300) ?? '';
          if (r.code === 2) {
            history.record('client', 'fail', f, { ...value, key, attempt, reason });
            return false;
          }
          history.record('client', 'info', f, { ...value, key, attempt, code: r.code, reason });
          await sleep(250 * Math.min(attempt, 8));
        }
        return false;
      };
      const client = (async () => {
        while (!stopClient) {
          let active: string[] = [];
          let open = 0;
          try {
            active = (
              await reader.query<{ id: string }>(
                `select p.id from projects p where p.status = 'active'
                   and not exists (select 1 from tickets t where t.project_id = p.id and t.status = 'blocked')`,
              )
            ).map((r) => r.id);
            open = (
              await reader.query<{ n: number }>(
                "select count(*)::int as n from tickets where status in ('queued', 'running', 'awaiting-gates')",
              )
            )[0]!.n;
          } catch {
            await sleep(500); // the server is away
            continue;
          }
          if (open >= OPEN_TICKETS) {
            await sleep(300);
            continue;
          }
          if (active.length < ACTIVE_PROJECTS && (active.length < 2 || clientRng.next() < 0.4)) {
            const project = `j-${op + 1}`;
            if (await write('create-project', { project }, ['project', 'create', project]))
              await write('add-issue', { project, title: `op ${op + 1} in ${project}` }, [
                'issue',
                'add',
                `op ${op + 1} in ${project}`,
                '-p',
                project,
              ]);
          } else if (active.length) {
            const project = clientRng.pick(active);
            const title = `op ${op + 1} in ${project}`;
            await write('add-issue', { project, title }, ['issue', 'add', title, '-p', project]);
          } else await sleep(300);
        }
      })();

      // The nemesis: a fault every few seconds, the server crash once, somewhere in the middle.
      const start = performance.now();
      const elapsed = () => (performance.now() - start) / 1000;
      const crashAt = (SECONDS * rng.int(30, 70)) / 100;
      const resumes: Promise<void>[] = [];
      let crashed = false;
      const faults = { kill: 0, pause: 0, crash: 0 };
      while (elapsed() < SECONDS) {
        await sleep(rng.int(2000, 5000));
        if (!crashed && elapsed() >= crashAt) {
          crashed = true;
          history.record('nemesis', 'invoke', 'crash-server', {});
          server.crash();
          history.record('nemesis', 'info', 'crash-server', { how: 'pg_ctl stop -m immediate' });
          faults.crash++;
          await sleep(rng.int(1000, 4000));
          history.record('nemesis', 'invoke', 'restart-server', {});
          server.restart();
          history.record('nemesis', 'info', 'restart-server', {});
          continue;
        }
        const awake = live().filter((m) => !m.paused);
        if (!awake.length) continue;
        const m = rng.pick(awake);
        if (rng.next() < 0.4) {
          process.kill(m.w.child.pid!, 'SIGKILL');
          await m.w.done;
          history.record('nemesis', 'info', 'kill', { worker: m.name });
          for (const ticket of heldBy(m.seen))
            history.record(m.name, 'info', 'ticket', { ticket, reason: 'killed' });
          faults.kill++;
          await sleep(rng.int(0, 2000));
          launch(m.slot);
        } else if (fleet.filter((x) => x.paused).length < 2) {
          const ms = rng.int(500, 10_000);
          process.kill(m.w.child.pid!, 'SIGSTOP');
          m.paused = true;
          history.record('nemesis', 'info', 'pause', { worker: m.name, ms });
          faults.pause++;
          resumes.push(
            sleep(ms).then(() => {
              if (alive(m.w)) process.kill(m.w.child.pid!, 'SIGCONT');
              m.paused = false;
              history.record('nemesis', 'info', 'resume', { worker: m.name });
            }),
          );
        }
      }
      // Heal: every worker awake, three of them running; the client stops once its last write is sure.
      history.record('nemesis', 'info', 'heal', {});
      await Promise.all(resumes);
      for (const slot of ['a', 'b', 'c']) if (!live().some((m) => m.slot === slot)) launch(slot);
      stopClient = true;
      await client;
      say(`faults: ${JSON.stringify(faults)}; skew ${skew} s on slot c; ${op} client writes`);
      assert.equal(faults.crash, 1, 'the server was crashed and restarted once');

      // The skewed worker ran on its skewed clock (its health file is stamped with the machine's clock).
      const skewed = live().find((m) => m.slot === 'c')!;
      await until(
        () => {
          const h = skewed.w.health();
          return !!h && Math.abs(Date.parse(h.updated_at) - Date.now() - skew * 1000) < 60_000;
        },
        WAIT,
        () =>
          `${skewed.name}'s health file to show its clock ${skew} s off: ${JSON.stringify(skewed.w.health())}`,
      );

      // Settle: every ticket done or blocked.
      let last: Record<string, number> = {};
      await until(
        async () => {
          try {
            last = await reader.statuses();
          } catch {
            return false;
          }
          return Object.keys(last).every((s) => s === 'done' || s === 'blocked');
        },
        WAIT,
        () => `every ticket done or blocked: ${JSON.stringify(last)}`,
        500,
      );
      say(`tickets: ${JSON.stringify(last)}`);
      for (const m of live()) process.kill(m.w.child.pid!, 'SIGTERM');
      for (const m of live()) {
        const { code } = await m.w.done;
        assert.ok(code === 0 || code === 1, `${m.name} exited ${code}:\n${m.w.err()}`);
      }
      history.record('nemesis', 'info', 'stopped', {});

      const events = await eventsOf(url);
      const ops = readHistory(history.file);
      const count = (type: string, f?: string) =>
        ops.filter((o) => o.type === type && (!f || o.f === f) && o.process !== 'nemesis').length;
      say(
        `history: ${ops.length} ops; client ok ${ops.filter((o) => o.process === 'client' && o.type === 'ok').length}, fail ${ops.filter((o) => o.process === 'client' && o.type === 'fail').length}; workers finished ${count('ok', 'ticket')}, sessions ${count('ok', 'session')}, lost or killed ${count('info', 'ticket')}; store errors seen ${count('info', 'store-error')}; ${events.length} events`,
      );
      assert.ok(
        ops.some((o) => o.process === 'client' && o.type === 'ok'),
        'the client wrote',
      );
      assert.ok(count('ok', 'ticket') > 0, 'the workers finished tickets');
      assert.deepEqual(checkHistory(ops, events), []);
      const chains = await chainsOf(reader);
      assert.deepEqual(storeViolations(events, chains), []);
      checksBite(ops, events, chains);
      assert.deepEqual(handoffMismatches(dir, events), [], 'every handoff file as recorded');
      assert.deepEqual(await reader.query('select ticket from leases'), [], 'no lease left');
      // Events are stamped by the database's clock, not the skewed worker's: within a chain, time
      // never goes back by anything near the skew (a minute allows for clock reads a pause delayed).
      const stamps = await reader.query<{ project_id: string; seq: number; ts: string }>(
        'select project_id, seq, ts from events order by project_id, seq',
      );
      const back = stamps.filter(
        (r, i) =>
          i > 0 &&
          stamps[i - 1]!.project_id === r.project_id &&
          Date.parse(r.ts) < Date.parse(stamps[i - 1]!.ts) - 60_000,
      );
      assert.deepEqual(back, [], `time goes back in a chain (one worker's clock is ${skew} s off)`);
      const verify = await runVt(['audit', 'verify'], { cwd: dir, env: { VT_DATABASE_URL: url } });
      assert.equal(verify.code, 0, verify.stderr);
      passed = true;
    } finally {
      stopClient = true;
      for (const m of fleet) if (m.paused && alive(m.w)) process.kill(m.w.child.pid!, 'SIGCONT');
      killWorkers();
      await reader.close();
      server.stop();
      if (passed && !kept) rmSync(histDir, { recursive: true, force: true });
      else process.stderr.write(`# jepsen: history kept in ${history.file}\n`);
    }
  });
});

type Events = Awaited<ReturnType<typeof eventsOf>>;

/**
 * The checks can fail: the same history against copies of the store's events with one fault each
 * put in — an acknowledged write lost, a finish committed under another worker's claim, a
 * transition twice, a session's commit after its lease passed on, a chain broken.
 */
function checksBite(ops: Op[], events: Events, chains: Awaited<ReturnType<typeof chainsOf>>) {
  const acked = ops.find((o) => o.process === 'client' && o.type === 'ok' && o.f === 'add-issue')!;
  const lost = events.filter((e) => !(e.type === 'issue.added' && e.p.title === acked.value.title));
  assert.match(checkHistory(ops, lost).join('\n'), /acknowledged issue .* is in the store 0 times/);
  const fin = ops.find((o) => o.type === 'ok' && o.f === 'ticket')!;
  const stale = events.map((e) =>
    e.type === 'ticket.claimed' && e.p.ticket === fin.value.ticket
      ? { ...e, p: { ...e.p, worker: 'another' } }
      : e,
  );
  assert.match(
    checkHistory(ops, stale).join('\n'),
    /finished .*, but the claim it finished under is another's/,
  );
  const adv = events.find((e) => e.type === 'phase.advanced')!;
  const twice = [...events, { ...adv, seq: 1e9, gseq: 1e9 }];
  assert.match(storeViolations(twice, chains).join('\n'), /transition \d+ at position/);
  const started = events.find((e) => e.type === 'session.started')!;
  const [, ticket, gen] = /^(.*)\.s(\d+)$/.exec(started.p.session)!;
  const takeover = {
    ...started,
    type: 'ticket.claimed',
    seq: started.seq - 0.5,
    gseq: started.gseq - 0.5,
    p: { ticket, worker: 'another', lease_gen: Number(gen) + 1 },
  };
  const late = [...events, takeover].sort((a, b) => a.gseq - b.gseq);
  assert.match(storeViolations(late, chains).join('\n'), /committed after generation/);
  const [project, rows] = [...chains][0]!;
  const broken = new Map(chains).set(
    project,
    rows.map((r, i) => (i === 1 ? { ...r, prev_hash: 'x' } : r)),
  );
  assert.match(storeViolations(events, broken).join('\n'), /prev_hash breaks the chain/);
}
