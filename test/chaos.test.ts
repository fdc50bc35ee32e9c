import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, afterEach, describe, it } from 'node:test';
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
import { runVt } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';
import {
  eventsOf,
  killWorkers,
  queueWork,
  removeWorkDirs,
  startWorker,
  until,
  type Worker,
} from './worker-helpers.ts';

// Real `vt worker` processes on a real PostgreSQL while a nemesis kills some (SIGKILL), freezes
// others past their lease (SIGSTOP) and starts new ones. Every fault is chosen by a seeded generator
// (the seed is printed; VT_CHAOS_SEED=N replays it) and lands on an event — a number of tickets
// done, a worker saying it started a step — never on a guess of how far the work got in a time.

const PROJECTS = Array.from({ length: 20 }, (_, i) => `proj-${String(i + 1).padStart(2, '0')}`);
const PHASES = 10;
const TOTAL = PROJECTS.length * PHASES;
// A dead or frozen worker's ticket passes on once its lease runs out: 3 s, heartbeats every second.
const ARGS = ['--lease-ms', '3000', '--backoff-ms', '50'];
// Short steps: the whole queue takes a minute or two on a small machine.
const ENV = { VT_TEST_SLEEP_MS: '30' };
// Bounds on waiting for an event: generous, for a busy machine. The server ends a frozen worker's
// idle transaction after 60 s; until then a worker frozen inside a commit holds the writers it blocks.
const WAIT = 240_000;

type Fault = 'kill' | 'stop' | 'start';

interface Member {
  name: string;
  w: Worker;
  seen: Progress[];
  stopped: boolean;
  killed: boolean;
}

describe('chaos: vt workers under SIGKILL, SIGSTOP and newcomers [postgres]', () => {
  after(dropTestDatabases);
  afterEach(() => {
    killWorkers();
    removeWorkDirs();
  });

  it('four vt worker processes share 200 tickets over 20 projects while workers are killed (SIGKILL), frozen past their lease (SIGSTOP) and started: every ticket done exactly once, every chain verifies, no transition duplicated or lost, a frozen worker holds up no other', {
    timeout: 540_000,
  }, async (t) => {
    const rng = seeded('VT_CHAOS_SEED');
    const t0 = performance.now();
    const say = (s: string) => t.diagnostic(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${s}`);
    // On stderr at once too, so a run that hangs or crashes still tells its seed.
    process.stderr.write(`# chaos: seed ${rng.seed} (replay with ${rng.replay})\n`);
    say(`seed ${rng.seed} (replay with ${rng.replay})`);
    const url = await freshPgUrl();
    const { dir, db } = await queueWork(url, {
      phases: PHASES,
      projects: PROJECTS,
      issuesPerProject: PHASES,
    });
    const reader = new StoreReader(url);
    const done = async () => (await reader.statuses()).done ?? 0;

    const fleet: Member[] = [];
    const listeners = new Set<(m: Member, e: Progress) => void>();
    let named = 0;
    const launch = () => {
      const name = `w${++named}`;
      const m: Member = {
        name,
        w: startWorker(dir, db, name, ARGS, ENV),
        seen: [],
        stopped: false,
        killed: false,
      };
      onProgress(m.w, (e) => {
        m.seen.push(e);
        for (const l of listeners) l(m, e);
      });
      fleet.push(m);
      return m;
    };
    /** The next event of a type this worker prints; fails if it ends first or none comes in the bound. */
    const next = (m: Member, type: string) =>
      new Promise<Progress>((resolve, reject) => {
        const off = () => {
          clearTimeout(timer);
          listeners.delete(l);
        };
        const l = (from: Member, e: Progress) => {
          if (from !== m || e.type !== type) return;
          off();
          resolve(e);
        };
        const timer = setTimeout(() => {
          off();
          reject(new Error(`timed out waiting for ${m.name} to report ${type}:\n${m.w.err()}`));
        }, WAIT);
        listeners.add(l);
        void m.w.done.then(() => {
          off();
          reject(new Error(`${m.name} ended before it reported ${type}:\n${m.w.err()}`));
        });
      });
    const running = () => fleet.filter((m) => alive(m.w) && !m.stopped);
    /** Claims of a ticket in the store, in order. */
    const claimsOf = async (ticket: string) =>
      (
        await reader.query<{ payload: string }>(
          "select payload from events where type = 'ticket.claimed' and payload::jsonb->>'ticket' = $1 order by gseq",
          [ticket],
        )
      ).map((r) => JSON.parse(r.payload) as { worker: string; lease_gen: number });
    const isDone = async (ticket: string) =>
      (await reader.query("select 1 from tickets where id = $1 and status = 'done'", [ticket])).length === 1;

    for (let i = 0; i < 4; i++) launch();

    // The faults, in a seeded order: each kind among the first three, then two of each and seeded picks.
    // The first kill comes before the first freeze: a freeze can last a minute (the server ends a
    // frozen worker's transaction after 60 s), by which time the queue may be done, and the run
    // needs one of each.
    const first = rng.shuffle<Fault>(['kill', 'stop', 'start']);
    const [kill, stop] = [first.indexOf('kill'), first.indexOf('stop')];
    if (stop < kill) [first[kill], first[stop]] = ['stop', 'kill'];
    const faults: Fault[] = [
      ...first,
      ...rng.shuffle<Fault>([
        'kill',
        'stop',
        'start',
        ...Array.from({ length: 3 }, () => rng.pick<Fault>(['kill', 'stop', 'start'])),
      ]),
    ];
    say(`faults: ${faults.join(', ')}`);
    const killed: { name: string; held: string[] }[] = [];
    const frozen: { name: string; held: string[]; takenOver: string[] }[] = [];
    try {
      for (const [k, fault] of faults.entries()) {
        // Each fault lands once a number of tickets is done, spread over the first two thirds.
        const at = 8 + k * 12 + rng.int(0, 6);
        await until(
          async () => (await done()) >= at,
          WAIT,
          () => `${at} tickets done before fault ${k + 1} (${fault})`,
          250,
        );
        if (fault === 'start') {
          say(`${launch().name} joins at ${await done()} done`);
          continue;
        }
        // Near the end a worker may find nothing more to start: no fault then.
        if ((await done()) > TOTAL - 30) {
          say(`fault ${k + 1} (${fault}) not done: the queue is nearly empty`);
          continue;
        }
        const m = rng.pick(running());
        // Mid-ticket: the moment the worker says it started a step.
        await next(m, 'session');
        if (fault === 'kill') {
          process.kill(m.w.child.pid!, 'SIGKILL');
          await m.w.done;
          m.killed = true;
          const held = heldBy(m.seen);
          killed.push({ name: m.name, held });
          say(`${m.name} killed holding ${held.join(', ') || 'nothing'} at ${await done()} done`);
        } else {
          process.kill(m.w.child.pid!, 'SIGSTOP');
          m.stopped = true;
          const held = heldBy(m.seen);
          const d0 = await done();
          say(`${m.name} frozen holding ${held.join(', ') || 'nothing'} at ${d0} done`);
          // A frozen worker holds up no other: the rest go on finishing tickets.
          await until(
            async () => (await done()) >= d0 + 3,
            WAIT,
            () => `others to finish 3 tickets while ${m.name} is frozen (from ${d0})`,
            250,
          );
          // Past its lease: what it held is taken over by another worker (or it had finished it).
          const takenOver: string[] = [];
          for (const ticket of held)
            await until(
              async () => {
                // A claim after its own: the ticket may have come to it from a killed worker.
                const claims = await claimsOf(ticket);
                const mine = claims.findLastIndex((c) => c.worker === m.name);
                if (claims.slice(mine + 1).some((c) => c.worker !== m.name)) {
                  takenOver.push(ticket);
                  return true;
                }
                return isDone(ticket);
              },
              WAIT,
              () => `${ticket}, held by the frozen ${m.name}, to be taken over`,
              250,
            );
          process.kill(m.w.child.pid!, 'SIGCONT');
          m.stopped = false;
          frozen.push({ name: m.name, held, takenOver });
          say(`${m.name} thawed; ${takenOver.join(', ') || 'nothing'} taken over meanwhile`);
          // Woken past its lease, it finds the lease gone: its late work is refused.
          for (const ticket of takenOver)
            await until(
              () => m.seen.some((e) => e.type === 'lost' && e.ticket === ticket),
              WAIT,
              () => `${m.name} to find its lease on ${ticket} gone:\n${m.w.err()}`,
            );
        }
        // Never fewer than three workers at work.
        while (running().length < 3) say(`${launch().name} joins as a replacement`);
      }
      assert.ok(killed.length && frozen.length, 'at least one worker was killed and one frozen');
      let last: Record<string, number> = {};
      await until(
        async () => {
          last = await reader.statuses();
          return (last.done ?? 0) === TOTAL;
        },
        WAIT * 2,
        () => `every ticket done: ${JSON.stringify(last)}`,
        500,
      );
      for (const m of fleet) if (alive(m.w)) process.kill(m.w.child.pid!, 'SIGTERM');
      for (const m of fleet) {
        if (m.killed) continue;
        const { code } = await m.w.done;
        // 1 says a ticket was lost (a lease that ran out under a frozen peer or a busy machine): fine,
        // another worker took it over; anything else is not.
        if (code !== 0) {
          assert.equal(code, 1, `${m.name}:\n${m.w.err()}`);
          assert.ok(
            m.seen.some((e) => e.type === 'lost'),
            `${m.name} exited 1 without losing a ticket:\n${m.w.err()}`,
          );
        }
      }
    } finally {
      for (const m of fleet) if (m.stopped && alive(m.w)) process.kill(m.w.child.pid!, 'SIGCONT');
    }

    const events = await eventsOf(db);
    const finished = events.filter((e) => e.type === 'ticket.finished');
    assert.equal(finished.length, TOTAL, 'every ticket finished');
    assert.equal(new Set(finished.map((e) => e.p.ticket)).size, TOTAL, 'no ticket finished twice');
    assert.deepEqual(storeViolations(events, await chainsOf(reader)), []);
    assert.deepEqual(handoffMismatches(dir, events), [], 'every handoff file as recorded');
    const claims = events.filter((e) => e.type === 'ticket.claimed');
    const perWorker: Record<string, number> = {};
    for (const c of claims) perWorker[c.p.worker] = (perWorker[c.p.worker] ?? 0) + 1;
    say(`claims per worker: ${JSON.stringify(perWorker)}; ${claims.length - TOTAL} takeovers or retries`);
    // What a killed or frozen worker held was finished by another worker, under a later claim.
    for (const { name, held } of [...killed, ...frozen.map((f) => ({ name: f.name, held: f.takenOver }))])
      for (const ticket of held) {
        const mine = claims.filter((c) => c.p.ticket === ticket);
        assert.ok(
          mine.length >= 2,
          `${ticket} (held by ${name}) taken over: ${JSON.stringify(mine.map((c) => c.p))}`,
        );
        assert.notEqual(mine.at(-1)!.p.worker, name, `${ticket} finished by another worker than ${name}`);
      }
    for (const p of PROJECTS) {
      const tr = await reader.query<{ n: number; to_phase: string | null }>(
        'select n, to_phase from transitions where project_id = $1 order by n',
        [p],
      );
      assert.deepEqual(
        tr.map((x) => x.n),
        Array.from({ length: PHASES }, (_, i) => i + 1),
        `${p}: each transition once`,
      );
      assert.equal(tr.at(-1)!.to_phase, null, `${p} completed`);
    }
    assert.deepEqual(await reader.query('select ticket from leases'), [], 'no lease left');
    await reader.close();
    const verify = await runVt(['audit', 'verify'], { cwd: dir, env: { VT_DATABASE_URL: db } });
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(
      verify.stderr + verify.stdout,
      new RegExp(`${events.length} events in ${PROJECTS.length} chains\\b`),
    );
    rmSync(dir, { recursive: true, force: true });
  });
});
