import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import { verifyStore } from '../src/audit/audit.ts';
import { sha256 } from '../src/canonical.ts';
import { buildHandoff, estimateTokens } from '../src/context/handoff.ts';
import { Engine } from '../src/engine/engine.ts';
import { evolve, type ProjectState } from '../src/engine/state.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { toRecorded } from '../src/store/append.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import {
  autoTrainYaml,
  backendEnv,
  committedText,
  folderStore,
  runVt,
  spawnCollect,
  tempDir,
  testBackend,
  VT_BIN,
} from './helpers.ts';
import { describeOnBackends } from './pg.ts';

/** A folder with vt.yaml (a git repository when `git`), projects created, and issues queued. */
async function setUp(opts: {
  phases: number;
  projects: string[];
  issuesPerProject: number;
  git?: boolean;
  approvalAt?: number;
}) {
  const dir = tempDir('vt-auto-');
  const yaml = autoTrainYaml(opts.phases, { approvalAt: opts.approvalAt });
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  if (opts.git !== false) {
    const g = (...a: string[]) =>
      execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], {
        stdio: 'ignore',
      });
    g('init', '-q');
    g('add', '-A');
    g('commit', '-qm', 'init');
  }
  const db = await folderStore(dir);
  assert.equal(db.startsWith('postgres://'), testBackend.current === 'postgres', 'the backend under test');
  const store = await openStore(db);
  const engine = new Engine({ store, io: nodeIo });
  const tickets = new Tickets(engine);
  const train = parseTrain(yaml, join(dir, 'vt.yaml'));
  const phaseIds = train.train.phases.map((p) => p.id);
  for (const name of opts.projects) {
    await engine.createProject({ name, workspace: dir, train }, { actor: 'lead-1' });
    for (let i = 0; i < opts.issuesPerProject; i++) {
      await tickets.addIssue(
        name,
        { title: `work ${i + 1}`, phase: phaseIds[i % phaseIds.length] },
        { actor: 'lead-1' },
      );
    }
  }
  await store.close();
  return { dir, db };
}

async function autopilot(dir: string, args: string[], env: Record<string, string> = {}) {
  return spawnCollect([VT_BIN, 'autopilot', '--json', ...args], {
    cwd: dir,
    env: { NO_COLOR: '1', VT_SQLITE_SYNCHRONOUS: 'NORMAL', ...(await backendEnv(dir, env)), ...env },
  });
}

async function eventsOf(db: string, type: string) {
  const store = await openStore(db);
  const rows = await store.db
    .selectFrom('events')
    .select(['project_id', 'seq', 'payload'])
    .where('type', '=', type)
    .execute();
  await store.close();
  return rows.map((r) => ({ project: r.project_id, seq: r.seq, ...JSON.parse(r.payload) }));
}

describeOnBackends('autopilot', () => {
  it('50 tickets over 5 projects at concurrency 4 survive ten SIGKILLs: every ticket done, every transition once', {
    timeout: 600_000,
  }, async (t) => {
    const projects = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
    const { dir, db } = await setUp({ phases: 10, projects, issuesPerProject: 10 });
    const env = { VT_TEST_SLEEP_MS: '150' };
    const args = ['--concurrency', '4', '--lease-ms', '1500', '--backoff-ms', '50'];
    // Each run is killed once it has claimed a chosen number of tickets (an event, not a clock), so
    // every kill lands mid-run on a busy machine and on an idle one; ten runs claim at most 30 of 50.
    const claimsBeforeKill = fc.sample(fc.integer({ min: 1, max: 3 }), { numRuns: 10, seed: 7 });
    for (const n of claimsBeforeKill) {
      const run = await autopilot(dir, args, env);
      await run.waitFor((out) => (out.match(/"type":"claimed"/g)?.length ?? 0) >= n, 120_000);
      run.child.kill('SIGKILL');
      assert.equal((await run.done).signal, 'SIGKILL');
    }
    const final = await autopilot(dir, args, env);
    const res = await final.done;
    assert.equal(res.code, 0, final.err());
    const store = await openStore(db);
    const tickets = await store.db.selectFrom('tickets').select(['id', 'status', 'attempts']).execute();
    t.diagnostic(`tickets: ${tickets.length}; claims: ${(await eventsOf(db, 'ticket.claimed')).length}`);
    assert.equal(tickets.length, 50);
    assert.deepEqual(
      tickets.filter((x) => x.status !== 'done'),
      [],
    );
    for (const p of projects) {
      const tr = await store.db
        .selectFrom('transitions')
        .select(['n', 'from_phase', 'to_phase'])
        .where('project_id', '=', p)
        .orderBy('n')
        .execute();
      assert.deepEqual(
        tr.map((x) => x.n),
        Array.from({ length: 10 }, (_, i) => i + 1),
        `${p}: ten transitions, each once`,
      );
      assert.equal(tr.at(-1)!.to_phase, null);
      const status = await store.db
        .selectFrom('projects')
        .select('status')
        .where('id', '=', p)
        .executeTakeFirstOrThrow();
      assert.equal(status.status, 'completed');
    }
    const finished = await eventsOf(db, 'ticket.finished');
    assert.equal(finished.length, 50);
    assert.equal(new Set(finished.map((f) => f.ticket)).size, 50, 'no ticket finished twice');
    const verified = await verifyStore(store.db);
    assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
    const live = await dumpProjections(store.db);
    await rebuildProjections(store);
    assert.deepEqual(await dumpProjections(store.db), live);
    await store.close();
  });

  it('two autopilot processes on one store finish the queue without claiming any ticket twice', {
    timeout: 300_000,
  }, async () => {
    const { dir, db } = await setUp({
      phases: 4,
      projects: ['one', 'two', 'three', 'four'],
      issuesPerProject: 1,
    });
    const a = await autopilot(dir, ['--concurrency', '2']);
    const b = await autopilot(dir, ['--concurrency', '2']);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, a.err());
    assert.equal(rb.code, 0, b.err());
    const claims = await eventsOf(db, 'ticket.claimed');
    assert.equal(claims.length, 16);
    assert.equal(new Set(claims.map((c) => c.ticket)).size, 16, 'each ticket claimed once');
    const workers = new Set(claims.map((c) => c.worker));
    assert.equal(workers.size, 2, 'both processes took work');
    const store = await openStore(db);
    const open = await store.db.selectFrom('tickets').select('id').where('status', '!=', 'done').execute();
    assert.deepEqual(open, []);
    await store.close();
  });

  it('a failing command is retried with backoff, blocked after three attempts with an alert, and completes after vt retry', {
    timeout: 300_000,
  }, async (t) => {
    const { dir, db } = await setUp({ phases: 3, projects: ['flaky'], issuesPerProject: 1 });
    const failDir = tempDir();
    writeFileSync(join(failDir, 'p02'), '5');
    const hooks: unknown[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        hooks.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    // Closed even when an assertion fails, or the test process would never exit.
    t.after(() => server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    // The step script keeps its failure count outside its worktree: no sandbox for it.
    const run = await autopilot(dir, ['--backoff-ms', '200', '--alert-webhook', url], {
      VT_TEST_FAIL_DIR: failDir,
      VT_SANDBOX: 'none',
    });
    const res = await run.done;
    assert.equal(res.code, 1, `a run that blocked a ticket exits 1: ${run.err()}`);
    assert.match(run.err(), /1 blocked/);
    const statuses = (await eventsOf(db, 'ticket.status')).filter((s) => s.ticket === 'flaky-1-p02');
    assert.deepEqual(
      statuses.map((s) => [s.status, s.attempts]),
      [
        ['queued', 1],
        ['queued', 2],
        ['blocked', 3],
      ],
    );
    // Backoff doubles: 200 ms, then 400 ms.
    const store = await openStore(db);
    const rows = await store.db
      .selectFrom('events')
      .select(['ts', 'payload'])
      .where('project_id', '=', 'flaky')
      .where('type', '=', 'ticket.status')
      .orderBy('seq')
      .execute();
    // not_before is the decision's clock reading + the backoff; ts is read a moment later, when the
    // events are appended. So each wait is at most its backoff, and short of it only by that moment
    // (well under the 200 ms between the two backoffs, however loaded the machine).
    const waits = rows
      .slice(0, 2)
      .map((r) => Date.parse(JSON.parse(r.payload).not_before) - Date.parse(r.ts));
    assert.ok(waits[0]! <= 200 && waits[1]! <= 400 && waits[1]! > 200 && waits[0]! > 0, `waits ${waits}`);
    await store.close();
    assert.match(run.err(), /alert.*flaky-1-p02 blocked after 3 failed attempts/);
    assert.match(readFileSync(join(dir, '.vt', 'alerts.log'), 'utf8'), /flaky-1-p02 blocked/);
    assert.equal(hooks.length, 1);
    assert.match(JSON.stringify(hooks[0]), /blocked after 3 failed attempts/);
    server.close();
    const inbox = await runVt(['inbox', '--json'], { cwd: dir });
    assert.equal(JSON.parse(inbox.stdout)[0].status, 'blocked');
    assert.match(JSON.parse(inbox.stdout)[0].reason, /p02: exited 3/, 'the inbox says why it waits');
    // A person fixes the cause and unblocks the ticket.
    writeFileSync(join(failDir, 'p02'), '0');
    const retry = await runVt(['retry', 'flaky-1-p02'], { cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    const again = await autopilot(dir, [], { VT_TEST_FAIL_DIR: failDir, VT_SANDBOX: 'none' });
    assert.equal((await again.done).code, 0, again.err());
    const status = await runVt(['status', 'flaky', '--json'], { cwd: dir });
    assert.equal(JSON.parse(status.stdout).status, 'completed');
  });

  it('a rework loop that keeps coming back is blocked loudly: counted, exit 1, the alert, the reason in vt inbox and vt status', {
    timeout: 300_000,
  }, async () => {
    // Regression: a ticket blocked after 8 rework loops was reported as "0 blocked", exit 0, no alert.
    const dir = tempDir('vt-auto-');
    const yaml = autoTrainYaml(2)
      .replace('expr: "m_p01 > 0"', 'expr: "m_p01 > 1"')
      .replace('    next: p02', '    on_fail: p01\n    next: p02');
    writeFileSync(join(dir, 'vt.yaml'), yaml);
    assert.equal((await runVt(['project', 'create', 'Loop', '--as', 'lead-1'], { cwd: dir })).code, 0);
    assert.equal((await runVt(['plan', 'loop'], { cwd: dir })).code, 0);
    const run = await autopilot(dir, ['--workspaces', 'folder']);
    const res = await run.done;
    assert.equal(res.code, 1, run.err());
    const summary = run
      .out()
      .split('\n')
      .filter((l) => l.includes('"type":"summary"'))
      .map((l) => JSON.parse(l))[0];
    assert.equal(summary.blocked, 1, run.out());
    assert.match(run.err(), /alert.*loop-1 reached p01 9 times: the loop looks stuck/);
    assert.match(readFileSync(join(dir, '.vt', 'alerts.log'), 'utf8'), /the loop looks stuck/);
    const inbox = JSON.parse((await runVt(['inbox', '--json'], { cwd: dir })).stdout);
    assert.deepEqual(
      inbox.map((x: { status: string; reason: string }) => [x.status, /the loop looks stuck/.test(x.reason)]),
      [['blocked', true]],
    );
    const plain = await runVt(['inbox'], { cwd: dir });
    assert.match(plain.stdout, /the loop looks stuck/, 'the plain inbox says why too');
    const status = JSON.parse((await runVt(['status', 'loop', '--json'], { cwd: dir })).stdout);
    assert.equal(status.attention[0].status, 'blocked');
    assert.match(status.attention[0].reason, /the loop looks stuck/);
    assert.equal(status.visit, 9, 'the ninth visit of p01');
  });

  it("a command gate judges the session's commit, not the top folder", { timeout: 300_000 }, async () => {
    // Regression: command gates ran in the folder of vt.yaml: a gate failed on a file the step wrote
    // into its worktree, and passed on a stale copy left in the top folder.
    const { dir, db } = await setUp({ phases: 2, projects: ['cmd'], issuesPerProject: 1 });
    const yaml = readFileSync(join(dir, 'vt.yaml'), 'utf8')
      .replace(
        '        - { id: measured, kind: metric, expr: "m_p01 > 0" }',
        `        - { id: measured, kind: metric, expr: "m_p01 > 0" }\n        - { id: wrote, kind: command, run: [node, -e, "process.exit(require('fs').readFileSync('out/p01.txt', 'utf8').includes('work of p01 for cmd-1-p01') ? 0 : 4)"], timeout_s: 60 }`,
      )
      .replace(
        '        - { id: measured, kind: metric, expr: "m_p02 > 0" }',
        `        - { id: measured, kind: metric, expr: "m_p02 > 0" }\n        - { id: stale, kind: command, run: [node, -e, "process.exit(require('fs').existsSync('stale/ok.txt') ? 0 : 4)"], timeout_s: 60 }`,
      );
    writeFileSync(join(dir, 'vt.yaml'), yaml);
    // The top folder holds what would make both gates pass, uncommitted; no session commits stale/.
    mkdirSync(join(dir, 'out'), { recursive: true });
    writeFileSync(join(dir, 'out', 'p01.txt'), 'a stale copy\n');
    mkdirSync(join(dir, 'stale'), { recursive: true });
    writeFileSync(join(dir, 'stale', 'ok.txt'), 'left over\n');
    const store = await openStore(db);
    const engine = new Engine({ store, io: nodeIo });
    await engine.upgrade('cmd', parseTrain(yaml, join(dir, 'vt.yaml')), 'command gates', { actor: 'lead-1' });
    await store.close();
    const run = await autopilot(dir, ['--backoff-ms', '50']);
    assert.equal((await run.done).code, 1, run.err());
    const evaluated = (await eventsOf(db, 'gate.evaluated')).filter((e) => e.side === 'exit');
    const verdict = (phase: string, gate: string) =>
      evaluated
        .filter((e) => e.phase === phase)
        .map((e) => e.results.find((r: { gate: string }) => r.gate === gate)?.status);
    assert.deepEqual(verdict('p01', 'wrote'), ['pass'], "p01's gate saw the file its session wrote");
    assert.deepEqual(
      verdict('p02', 'stale'),
      ['fail', 'fail', 'fail'],
      'the stale copy in the top folder never counts',
    );
    assert.equal(
      readFileSync(join(dir, 'out', 'p01.txt'), 'utf8'),
      'a stale copy\n',
      'the top folder is untouched',
    );
  });

  it('waits for a person at an approval gate, and a human-owned phase waits in the inbox until vt done', {
    timeout: 300_000,
  }, async () => {
    const dir = tempDir('vt-auto-');
    writeFileSync(join(dir, 'vt.yaml'), autoTrainYaml(3, { approvalAt: 1, humanAt: 2 }));
    assert.equal((await runVt(['project', 'create', 'Solo', '--as', 'lead-1'], { cwd: dir })).code, 0);
    assert.equal((await runVt(['plan', 'solo'], { cwd: dir })).code, 0);
    let run = await autopilot(dir, ['--workspaces', 'folder']);
    assert.equal((await run.done).code, 0, run.err());
    let inbox = JSON.parse((await runVt(['inbox', '--json'], { cwd: dir })).stdout);
    assert.deepEqual(
      inbox.map((x: { ticket: string; status: string }) => [x.ticket, x.status]),
      [['solo-1-p01', 'awaiting-approval']],
    );
    assert.equal((await runVt(['approve', 'solo', '--as', 'lead-1'], { cwd: dir })).code, 0);
    run = await autopilot(dir, ['--workspaces', 'folder']);
    assert.equal((await run.done).code, 0, run.err());
    inbox = JSON.parse((await runVt(['inbox', '--json'], { cwd: dir })).stdout);
    assert.equal(inbox[0].status, 'awaiting-human');
    // The person does the phase's work by hand, in the worktree the inbox names, and says so.
    const ws = join(dir, '.vt', 'workspaces', 'solo-1-p02.human');
    assert.ok(existsSync(ws));
    assert.ok(
      JSON.stringify(inbox[0]).includes(ws),
      `the inbox says where to work: ${JSON.stringify(inbox[0])}`,
    );
    mkdirSync(join(ws, 'out'), { recursive: true });
    writeFileSync(join(ws, 'out', 'p02.txt'), 'by hand\n');
    const env = { VT_ACTOR: 'lead-1' };
    for (const args of [
      ['tick', 'solo', 'done'],
      ['artifact', 'add', 'solo', 'out', 'out/p02.txt'],
      ['metric', 'set', 'solo', 'm_p02', '1'],
    ]) {
      const r = await runVt(args, { cwd: ws, env });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal((await runVt(['done', 'solo-1-p02'], { cwd: dir })).code, 0);
    run = await autopilot(dir, ['--workspaces', 'folder']);
    assert.equal((await run.done).code, 0, run.err());
    assert.equal(
      JSON.parse((await runVt(['status', 'solo', '--json'], { cwd: dir })).stdout).status,
      'completed',
    );
  });

  it('a ticket re-run after a crash between its workspace commit and its gates starts where it started', {
    timeout: 300_000,
  }, async () => {
    // Regression: a re-run used to see the killed run's committed output (the demo's retraining then
    // found its challenger already promoted and ended the train early).
    const { dir, db } = await setUp({ phases: 2, projects: ['crash'], issuesPerProject: 1 });
    const killed = await autopilot(dir, ['--lease-ms', '500'], { VT_FAILPOINT: 'after-workspace-commit' });
    assert.equal((await killed.done).signal, 'SIGKILL');
    const again = await autopilot(dir, ['--lease-ms', '500']);
    assert.equal((await again.done).code, 0, again.err());
    const store = await openStore(db);
    const art = await store.db
      .selectFrom('artifacts')
      .selectAll()
      .where('project_id', '=', 'crash')
      .where('phase', '=', 'p01')
      .executeTakeFirstOrThrow();
    await store.close();
    assert.ok(art.commit_sha, 'the artifact is judged in a recorded commit');
    assert.equal(await committedText(dir, art.commit_sha, art.path), 'work of p01 for crash-1-p01\n');
    const claims = (await eventsOf(db, 'ticket.claimed')).filter((c) => c.ticket === 'crash-1-p01');
    assert.equal(claims.length, 2, 'claimed again after the crash');
  });

  it('a worker stopped past its lease cannot commit after another took its ticket over', {
    timeout: 300_000,
  }, async () => {
    const { dir, db } = await setUp({ phases: 2, projects: ['stale'], issuesPerProject: 1 });
    // Freeze A while its step runs: A is then only waiting, between heartbeats (a second apart), not
    // inside a transaction. (A worker frozen while holding SQLite's write lock would stop every
    // writer; that is a limit of one shared file, not something a lease can fix.)
    const started = join(tempDir(), 'started');
    // The step tells the test it started in a file outside its worktree: no sandbox for it.
    const a = await autopilot(dir, ['--lease-ms', '3000'], {
      VT_TEST_SLEEP_MS: '8000',
      VT_TEST_STARTED_FILE: started,
      VT_SANDBOX: 'none',
    });
    try {
      for (let i = 0; i < 4800 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(existsSync(started), `A never started its step: ${a.err()}`);
      a.child.kill('SIGSTOP');
      const b = await autopilot(dir, ['--lease-ms', '3000']);
      assert.equal((await b.done).code, 0, b.err());
    } finally {
      a.child.kill('SIGCONT');
    }
    assert.equal((await a.done).code, 0, a.err());
    const claims = (await eventsOf(db, 'ticket.claimed')).filter((c) => c.ticket === 'stale-1-p01');
    assert.deepEqual(
      claims.map((c) => c.lease_gen),
      [1, 2],
    );
    const ended = (await eventsOf(db, 'session.ended')).filter((e) => e.session === 'stale-1-p01.s1');
    assert.deepEqual(
      ended.map((e) => e.outcome),
      ['abandoned'],
      'the stale session was closed by the takeover, and nothing else',
    );
    const fromStale = (await eventsOf(db, 'context.added')).filter((e) => e.session === 'stale-1-p01.s1');
    assert.equal(fromStale.length, 0, 'the stale worker recorded nothing');
    const finished = await eventsOf(db, 'ticket.finished');
    assert.equal(finished.length, 2);
    assert.equal(new Set(finished.map((f) => f.ticket)).size, 2);
    const store = await openStore(db);
    assert.equal((await verifyStore(store.db)).ok, true);
    const tr = await store.db
      .selectFrom('transitions')
      .select('n')
      .where('project_id', '=', 'stale')
      .execute();
    assert.deepEqual(tr.map((t) => t.n).sort(), [1, 2]);
    // A's step went on writing while A was stopped (its own worktree): none of it reached B's work.
    // Regression: the late write landed in the worktree B had just committed (recorded hash ≠ file).
    const arts = await store.db
      .selectFrom('artifacts')
      .selectAll()
      .where('project_id', '=', 'stale')
      .execute();
    await store.close();
    const p01 = arts.find((a) => a.phase === 'p01')!;
    assert.equal(p01.session, 'stale-1-p01.s2', "the artifact is B's");
    assert.equal(await committedText(dir, p01.commit_sha!, p01.path), 'work of p01 for stale-1-p01\n');
    for (const a of arts) {
      const text = await committedText(dir, a.commit_sha!, a.path);
      assert.equal(
        sha256(text),
        a.sha256,
        `${a.phase}/${a.artifact}: the recorded hash is the committed file's`,
      );
    }
  });

  it('an empty queue says so and how to fill it', async () => {
    const dir = tempDir('vt-auto-');
    writeFileSync(join(dir, 'vt.yaml'), autoTrainYaml(2));
    const r = await runVt(['autopilot'], { cwd: dir });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /the queue is empty.*vt issue add TITLE --project P, or vt plan PROJECT/);
  });
});

describeOnBackends('handoff packets', () => {
  it('a worker that lost its lease records no handoff; the worker that holds it does', async () => {
    const { db } = await setUp({ phases: 2, projects: ['fenced'], issuesPerProject: 1, git: false });
    const store = await openStore(db);
    try {
      const tickets = new Tickets(new Engine({ store, io: nodeIo }));
      const stale = await tickets.claimNext('w1', { leaseMs: 1 });
      assert.ok(stale);
      // w1 pauses past its lease (the database's clock decides); w2 takes the ticket over.
      let fresh = null;
      while (!fresh) fresh = await tickets.claimNext('w2', { leaseMs: 60_000 });
      assert.equal(fresh.ticket.id, stale.ticket.id);
      assert.ok(fresh.gen > stale.gen);
      const h = { phase: 'p1', visit: 1, path: 'x.md', sha256: sha256('x'), tokens: 1, truncated: false };
      const who = { actor: 'conductor', idempotencyKey: 'handoff:p1:1' };
      await assert.rejects(
        tickets.recordHandoff('fenced', h, who, stale),
        /generation \d+ no longer holds it/,
      );
      const rows = () =>
        store.db.selectFrom('events').select('seq').where('type', '=', 'handoff.built').execute();
      assert.equal((await rows()).length, 0, 'the stale worker recorded nothing');
      await tickets.recordHandoff('fenced', h, who, fresh);
      assert.equal((await rows()).length, 1);
    } finally {
      await store.close();
    }
  });

  it('a late phase gets earlier artifacts, metrics and decisions within budget, identical when rebuilt from events', {
    timeout: 300_000,
  }, async () => {
    const { dir, db } = await setUp({ phases: 8, projects: ['late'], issuesPerProject: 1, git: false });
    const run = await autopilot(dir, ['--workspaces', 'folder']);
    assert.equal((await run.done).code, 0, run.err());
    const store = await openStore(db);
    const handoffs = await store.db
      .selectFrom('handoffs')
      .selectAll()
      .where('project_id', '=', 'late')
      .orderBy('seq')
      .execute();
    assert.equal(handoffs.length, 8);
    const last = handoffs.at(-1)!;
    const text = readFileSync(join(dir, last.path), 'utf8');
    assert.equal(sha256(text), last.sha256);
    for (let i = 1; i < 8; i++) {
      const id = `p0${i}`;
      assert.match(text, new RegExp(`${id}/out: out/${id}\\.txt sha256 [0-9a-f]{16}`), `artifact of ${id}`);
      assert.match(text, new RegExp(`m_${id} = 0\\.3 \\(${id}\\)`), `metric of ${id}`);
      assert.match(text, new RegExp(`\\[${id}\\] decision made in ${id}`), `decision of ${id}`);
    }
    assert.ok(last.tokens <= 8000 && estimateTokens(text) === last.tokens);
    // Rebuild every packet from the events that preceded it.
    const rows = await store.db
      .selectFrom('events')
      .selectAll()
      .where('project_id', '=', 'late')
      .orderBy('seq')
      .execute();
    const trainRow = await store.db.selectFrom('trains').select('body').executeTakeFirstOrThrow();
    const train = JSON.parse(trainRow.body);
    for (const h of handoffs) {
      let s: ProjectState | undefined;
      for (const r of rows.filter((x) => x.seq < h.seq)) s = evolve(s, toRecorded(r));
      const rebuilt = buildHandoff(s!, train);
      assert.equal(sha256(rebuilt.text), h.sha256, `handoff at seq ${h.seq}`);
    }
    // A small budget trims the least important lines first and says so.
    let s: ProjectState | undefined;
    for (const r of rows) s = evolve(s, toRecorded(r));
    const small = buildHandoff(s!, train, 300);
    assert.equal(small.truncated, true);
    assert.ok(small.tokens <= 300, `${small.tokens} tokens`);
    assert.match(small.text, /Trimmed to fit/);
    await store.close();
  });
});
