import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { sql } from 'kysely';
import { verifyStore } from '../src/audit/audit.ts';
import { copyStore } from '../src/audit/store-copy.ts';
import { verifyLog } from '../src/audit/verify-log.ts';
import { queueDueVisits } from '../src/autopilot/schedules.ts';
import { selectTickets } from '../src/autopilot/select.ts';
import { Engine } from '../src/engine/engine.ts';
import { evolve, type ProjectState } from '../src/engine/state.ts';
import { type Claim, Tickets } from '../src/engine/ticket-ops.ts';
import { VtError } from '../src/errors.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { readEvents, toRecorded } from '../src/store/append.ts';
import { nextClaimable, refreshClaimHeads } from '../src/store/claims.ts';
import { dbNow } from '../src/store/dialect.ts';
import { appRoleSql } from '../src/store/dialects/postgres.ts';
import { readLogState } from '../src/store/merkle-log.ts';
import { schemaStatus } from '../src/store/migrate.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { queueRows } from '../src/store/queue.ts';
import { SNAPSHOT_EVERY } from '../src/store/snapshots.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { freshEngine, TestClock, tempDir, testBackend } from './helpers.ts';
import { asRole, describeOnBackends, dropTestDatabases, freshPgUrl, pgQuery } from './pg.ts';

const lead = { actor: 'lead-1' };
const PAST = '2000-01-01T00:00:00.000Z';

async function throwsCode(p: Promise<unknown>, code: string, re?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VtError, `expected VtError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** A second store on the same database (another connection, as another process would have). */
const reopen = (target: string) => openStore(target, { synchronous: 'NORMAL' });

/**
 * Another writer on the same store: its own connection pool on PostgreSQL (as another process or
 * machine). On SQLite, writers in separate processes share the file (test/concurrency.test.ts); in
 * one process they share the connection, since better-sqlite3 blocks the thread while it waits.
 */
async function peer(f: { store: Store; target: string }): Promise<Store> {
  if (f.store.kind === 'postgres') return reopen(f.target);
  return { ...f.store, close: async () => {} };
}

/** An empty store of the other kind than the current backend. */
async function otherStore(): Promise<{ target: string; store: Store }> {
  const target = testBackend.current === 'sqlite' ? await freshPgUrl() : `${tempDir()}/copy.db`;
  return { target, store: await reopen(target) };
}

/** build → watch (every hour) → check → watch: operations with no end. */
const OPS_TRAIN = `version: 1
name: ops
roles:
  - { id: lead, name: Lead }
  - { id: ops, name: Ops }
people:
  lead-1: [lead]
phases:
  - { id: build, name: Build, stage: delivery, owner: ops, next: watch }
  - { id: watch, name: Watch, stage: operations, owner: ops, schedule: { every: 1h }, next: check }
  - { id: check, name: Check, stage: operations, owner: ops, next: watch }
`;

async function eventRows(store: Store) {
  return store.db.selectFrom('events').selectAll().orderBy('project_id').orderBy('seq').execute();
}

describeOnBackends('store contract', () => {
  it('claims follow the selection order exactly, for random queues, leases, timers, labels and assignees', async () => {
    const priorities = ['now', 'next', 'future'] as const;
    const issue = fc.record({
      priority: fc.constantFrom(...priorities),
      labels: fc.subarray(['gpu', 'big']),
      phase: fc.constantFrom('triage', 'triage', 'build'),
      assignee: fc.constantFrom(null, null, 'w1', 'w2'),
    });
    const scenario = fc.record({
      projects: fc.array(fc.array(issue, { minLength: 0, maxLength: 5 }), { minLength: 1, maxLength: 4 }),
      claims: fc.array(fc.record({ expire: fc.boolean(), fail: fc.boolean() }), { maxLength: 3 }),
      labels: fc.constantFrom([], ['gpu'], ['gpu', 'big']),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const f = await freshEngine();
        const tickets = new Tickets(f.engine);
        for (const [pi, issues] of sc.projects.entries()) {
          const id = `p${pi}`;
          await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, lead);
          for (const [k, is] of issues.entries()) {
            const a = await tickets.addIssue(
              id,
              { title: `i${k}`, priority: is.priority, labels: is.labels, phase: is.phase },
              lead,
            );
            if (is.assignee) await tickets.assign(id, a.issue, is.assignee, lead);
          }
        }
        // Running tickets: some leases expired (as after a crash), some failed into a retry timer.
        for (const c of sc.claims) {
          const claim = await tickets.claimNext(`w-${c.expire}`, { leaseMs: 60_000 });
          if (!claim) break;
          if (c.fail) await tickets.failAttempt(claim, 'boom', { actor: 'autopilot' }, 3_600_000);
          else if (c.expire)
            await f.store.db
              .updateTable('leases')
              .set({ expires_at: PAST })
              .where('ticket', '=', claim.ticket.id)
              .execute();
        }
        const now = f.clock.now();
        const expected = selectTickets(await queueRows(f.store.db), {
          now,
          labels: sc.labels,
          assignees: ['w1'],
        }).map((r) => r.id);
        const got = await f.store.transaction(async (trx) => {
          const leaseNow = await dbNow(trx);
          const skip = new Set<string>();
          const out: string[] = [];
          for (;;) {
            const row = await nextClaimable(trx, {
              labels: sc.labels,
              assignees: ['w1'],
              now: now.toISOString(),
              leaseNow,
              skipTickets: skip,
            });
            if (!row) return out;
            out.push(row.id);
            skip.add(row.id);
          }
        });
        // The index kept step by step equals one recomputed from the tickets.
        const heads = () =>
          f.store.db.selectFrom('claim_heads').selectAll().orderBy('project_id').orderBy('rank').execute();
        const live = await heads();
        await f.store.transaction(async (trx) => {
          for (const pi of sc.projects.keys()) await refreshClaimHeads(trx, `p${pi}`);
        });
        assert.deepEqual(await heads(), live);
        await f.store.close();
        assert.deepEqual(got, expected);
      }),
      { numRuns: 12, seed: 42 },
    );
  });

  it('workers on separate connections never claim the same ticket, and a project runs one ticket at a time', async () => {
    const f = await freshEngine();
    const tickets = new Tickets(f.engine);
    for (let p = 0; p < 6; p++) {
      await f.engine.createProject({ id: `p${p}`, name: `p${p}`, workspace: f.dir, train: f.train }, lead);
      for (let i = 0; i < 3; i++) await tickets.addIssue(`p${p}`, { title: `i${i}` }, lead);
    }
    const workers = await Promise.all(
      [1, 2, 3, 4].map(async (w) => {
        const store = await peer(f);
        return { w, store, tickets: new Tickets(new Engine({ store, io: nodeIo, clock: new TestClock() })) };
      }),
    );
    const claims: Claim[] = [];
    await Promise.all(
      workers.map(async ({ w, tickets: t }) => {
        for (;;) {
          const c = await t.claimNext(`w${w}`, { leaseMs: 60_000 });
          if (!c) return;
          claims.push(c);
        }
      }),
    );
    for (const x of workers) await x.store.close();
    assert.equal(claims.length, 6, 'one ticket per project: the others wait for it');
    assert.equal(new Set(claims.map((c) => c.projectId)).size, 6);
    const claimed = await f.store.db
      .selectFrom('events')
      .select('payload')
      .where('type', '=', 'ticket.claimed')
      .execute();
    assert.equal(claimed.length, 6, 'no claim was written twice');
    assert.equal((await verifyStore(f.store.db)).ok, true);
  });

  it('a worker whose lease passed to another can neither heartbeat nor commit (fencing by lease generation)', async () => {
    const f = await freshEngine();
    const tickets = new Tickets(f.engine);
    await f.engine.createProject({ id: 'p', name: 'p', workspace: f.dir, train: f.train }, lead);
    await tickets.addIssue('p', { title: 'work' }, lead);
    const a = (await tickets.claimNext('wa', { leaseMs: 60_000 }))!;
    assert.equal(a.gen, 1);
    assert.equal(await tickets.heartbeat(a, 'wa', 60_000), true);
    // A stops past its lease (the database's clock decides: the lease row says when).
    await f.store.db.updateTable('leases').set({ expires_at: PAST }).execute();
    assert.equal(await tickets.heartbeat(a, 'wa', 60_000), false, 'an expired lease is not revived');
    const bStore = await peer(f);
    const bTickets = new Tickets(new Engine({ store: bStore, io: nodeIo, clock: new TestClock() }));
    const b = (await bTickets.claimNext('wb', { leaseMs: 60_000 }))!;
    assert.equal(b.ticket.id, a.ticket.id);
    assert.equal(b.gen, 2);
    const before = (await eventRows(f.store)).length;
    await throwsCode(tickets.failAttempt(a, 'late', { actor: 'autopilot' }, 0), 'CONFLICT');
    await throwsCode(tickets.awaitHuman(a, 'late', { actor: 'autopilot' }), 'CONFLICT');
    await throwsCode(
      tickets.startSession(a, { role: 'lead', executor: 'x', workspace: f.dir, log: 'l', actor: 'a' }),
      'CONFLICT',
    );
    assert.equal((await eventRows(f.store)).length, before, 'the stale worker wrote nothing');
    await bTickets.failAttempt(b, 'b failed', { actor: 'autopilot' }, 0);
    assert.equal((await eventRows(f.store)).length, before + 1);
    await bStore.close();
  });

  it('writers of one project on separate connections queue on it; its chain never forks', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ id: 'p', name: 'p', workspace: f.dir, train: f.train }, lead);
    await f.engine.createProject({ id: 'q', name: 'q', workspace: f.dir, train: f.train }, lead);
    const engines = await Promise.all(
      [0, 1, 2].map(async () => {
        const store = await peer(f);
        return { store, tickets: new Tickets(new Engine({ store, io: nodeIo, clock: new TestClock() })) };
      }),
    );
    await Promise.all(
      engines.flatMap(({ tickets }, w) =>
        Array.from({ length: 10 }, (_, i) =>
          tickets.addContext(i % 3 ? 'p' : 'q', { kind: 'note', text: `w${w} n${i}` }, { actor: `w${w}` }),
        ),
      ),
    );
    for (const e of engines) await e.store.close();
    const v = await verifyStore(f.store.db);
    assert.equal(v.ok, true, JSON.stringify(v.firstBad));
    assert.equal(v.heads.p!.seq + v.heads.q!.seq, 2 + 30);
  });

  it('gseq follows commit order: readers never see a later number before an earlier one', async () => {
    const f = await freshEngine();
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids)
      await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, lead);
    const writers = await Promise.all(
      ids.map(async () => {
        const store = await peer(f);
        return { store, tickets: new Tickets(new Engine({ store, io: nodeIo, clock: new TestClock() })) };
      }),
    );
    let done = false;
    let looks = 0;
    const reader = (async () => {
      while (!done) {
        const rows = await f.store.db.selectFrom('events').select('gseq').orderBy('gseq').execute();
        for (const [i, r] of rows.entries())
          assert.equal(Number(r.gseq), i + 1, `a gap before gseq ${r.gseq}`);
        looks++;
      }
    })();
    await Promise.all(
      writers.map(async ({ tickets }, w) => {
        for (let i = 0; i < 15; i++)
          await tickets.addContext(ids[w]!, { kind: 'note', text: `n${i}` }, { actor: 'x' });
      }),
    );
    done = true;
    await reader;
    for (const w of writers) await w.store.close();
    const all = await f.store.db.selectFrom('events').select('gseq').orderBy('gseq').execute();
    assert.deepEqual(
      all.map((r) => Number(r.gseq)),
      Array.from({ length: 4 + 60 }, (_, i) => i + 1),
    );
    assert.ok(looks > 0);
    // The Merkle log took the events as its leaves in that same order (on PostgreSQL its sequencer
    // runs where the events are numbered, under the counter's lock): recomputed from the events in
    // gseq order, it equals the log the sequencer kept.
    const log = await verifyLog(f.store.db, { dir: null, key: null });
    assert.deepEqual(log.findings, []);
    const kept = await readLogState(f.store.db);
    assert.equal(kept.range.size, 64);
    assert.equal(kept.root.toString('base64'), log.root);
  });

  it('project state comes from the latest snapshot and the events after it, equal to a full fold', async () => {
    const f = await freshEngine();
    const tickets = new Tickets(f.engine);
    await f.engine.createProject({ id: 'p', name: 'Real', workspace: f.dir, train: f.train }, lead);
    for (let i = 0; i < SNAPSHOT_EVERY + 20; i++)
      await tickets.addContext('p', { kind: 'note', text: `note ${i}` }, { actor: 'lab' });
    const snap = await f.store.db
      .selectFrom('snapshots')
      .selectAll()
      .where('project_id', '=', 'p')
      .executeTakeFirstOrThrow();
    assert.ok(snap.seq >= SNAPSHOT_EVERY, `a snapshot at ${snap.seq}`);
    let full: ProjectState | undefined;
    for (const row of await readEvents(f.store.db, 'p')) full = evolve(full, toRecorded(row));
    const fresh = () => new Engine({ store: f.store, io: nodeIo, clock: new TestClock() }).state('p');
    assert.deepEqual(await fresh(), full);
    // The snapshot is what is read (not the history): a forged name in it shows.
    const forged = JSON.parse(snap.state);
    forged.name = 'Forged';
    await f.store.db
      .updateTable('snapshots')
      .set({ state: JSON.stringify(forged) })
      .execute();
    assert.equal((await fresh()).name, 'Forged');
    // A snapshot that disagrees with the chain, or has another shape, is ignored.
    await f.store.db
      .updateTable('snapshots')
      .set({ head_hash: 'f'.repeat(64) })
      .execute();
    assert.equal((await fresh()).name, 'Real');
    await f.store.db.updateTable('snapshots').set({ head_hash: snap.head_hash, shape: 'older' }).execute();
    assert.equal((await fresh()).name, 'Real');
    // The next write replaces an unusable snapshot.
    await f.store.db.deleteFrom('snapshots').execute();
    for (let i = 0; i < SNAPSHOT_EVERY; i++)
      await tickets.addContext('p', { kind: 'note', text: `more ${i}` }, { actor: 'lab' });
    const again = await f.store.db.selectFrom('snapshots').select('seq').executeTakeFirstOrThrow();
    assert.ok(again.seq > snap.seq);
  });

  it('events are append-only: the store refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL)', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ id: 'p', name: 'p', workspace: f.dir, train: f.train }, lead);
    await assert.rejects(f.store.db.updateTable('events').set({ actor: 'mallory' }).execute(), /append-only/);
    await assert.rejects(f.store.db.deleteFrom('events').execute(), /append-only/);
    if (f.store.kind === 'postgres')
      await assert.rejects(sql`truncate events`.execute(f.store.db), /append-only/);
    assert.equal((await verifyStore(f.store.db)).ok, true);
  });

  it('audit verify streams the chains and names the first tampered event', async () => {
    const f = await freshEngine();
    const tickets = new Tickets(f.engine);
    for (const id of ['a', 'b', 'c']) {
      await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, lead);
      for (let i = 0; i < 5; i++)
        await tickets.addContext(id, { kind: 'note', text: `n${i}` }, { actor: 'x' });
    }
    const ok = await verifyStore(f.store.db);
    assert.deepEqual([ok.ok, ok.checked, ok.projects], [true, 18, 3]);
    // Someone with the owner's rights lifts the protection and rewrites b#4.
    if (f.store.kind === 'postgres')
      await sql`alter table events disable trigger events_no_update`.execute(f.store.db);
    else await sql`drop trigger events_no_update`.execute(f.store.db);
    await f.store.db
      .updateTable('events')
      .set({ payload: '{"kind":"note","text":"forged"}' })
      .where('project_id', '=', 'b')
      .where('seq', '=', 4)
      .execute();
    const bad = await verifyStore(f.store.db);
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.firstBad, { project_id: 'b', seq: 4, reason: 'payload does not match its digest' });
  });

  it('operating projects: workers on separate connections queue each due visit once and claim its ticket; retiring ends it', async () => {
    const f = await freshEngine();
    const clock = { t: Date.parse('2026-03-01T00:00:00.000Z'), now: () => new Date(clock.t) };
    const engine = new Engine({ store: f.store, io: nodeIo, clock });
    const train = parseTrain(OPS_TRAIN, `${f.dir}/vt.yaml`);
    const ids = ['o1', 'o2', 'o3'];
    for (const id of ids) {
      await engine.createProject({ id, name: id, workspace: f.dir, train }, lead);
      await engine.advance(id, lead); // build → watch: operating, its first visit due at once
    }
    const statuses = await f.store.db.selectFrom('projects').select(['id', 'status']).orderBy('id').execute();
    assert.deepEqual(
      statuses.map((r) => r.status),
      ['operating', 'operating', 'operating'],
    );
    const workers = await Promise.all(
      [1, 2, 3, 4].map(async (w) => {
        const store = await peer(f);
        const e = new Engine({ store, io: nodeIo, clock });
        return { w, store, engine: e, tickets: new Tickets(e) };
      }),
    );
    const queued = await Promise.all(workers.map((x) => queueDueVisits(x.engine)));
    assert.equal(
      queued.flatMap((q) => q.outcomes).filter((o) => o.type === 'scheduled').length,
      ids.length,
      'each due visit queued by one worker',
    );
    const claims = (
      await Promise.all(workers.map((x) => x.tickets.claimNext(`w${x.w}`, { leaseMs: 60_000 })))
    ).filter((c) => c !== null);
    for (const x of workers) await x.store.close();
    assert.deepEqual(claims.map((c) => c.projectId).sort(), ids, "an operating project's ticket is claimed");
    const due = await f.store.db
      .selectFrom('events')
      .select('project_id')
      .where('type', '=', 'visit.due')
      .execute();
    assert.deepEqual(due.map((d) => d.project_id).sort(), ids, 'one visit.due per project');
    const visits = await f.store.db.selectFrom('scheduled_visits').select(['project_id', 'ticket']).execute();
    assert.deepEqual(
      visits.map((v) => [v.project_id, v.ticket]).sort(),
      ids.map((id) => [id, `${id}-1-watch`]),
    );

    await engine.lifecycle('o1', 'retire', 'switched off', lead);
    const heads = await f.store.db.selectFrom('claim_heads').select('project_id').distinct().execute();
    assert.ok(!heads.some((h) => h.project_id === 'o1'), 'a retired project has nothing to claim');
    const o1 = await f.store.db
      .selectFrom('projects')
      .select('status')
      .where('id', '=', 'o1')
      .executeTakeFirstOrThrow();
    assert.equal(o1.status, 'retired');
    // The status CHECK takes the new statuses and still refuses one that does not exist.
    await assert.rejects(
      f.store.db.updateTable('projects').set({ status: 'finished' }).where('id', '=', 'o2').execute(),
      /check/i,
    );
    const live = await dumpProjections(f.store.db);
    await rebuildProjections(f.store);
    assert.deepEqual(await dumpProjections(f.store.db), live, 'the projections are the replayed events');
    assert.equal((await verifyStore(f.store.db)).ok, true);
  });

  it('vt db copy to the other backend and back keeps every event byte for byte and every projection', async () => {
    const f = await freshEngine();
    const tickets = new Tickets(f.engine);
    for (const id of ['a', 'b']) {
      await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, lead);
      await f.engine.tick(id, 'asked', 'ok', { actor: 'lab' });
      await tickets.addIssue(id, { title: 'w', priority: 'now', labels: ['gpu'] }, lead);
    }
    const c = (await tickets.claimNext('w1', { leaseMs: 60_000 }))!;
    await tickets.failAttempt(c, 'x', { actor: 'autopilot' }, 0);
    const middle = await otherStore();
    const r = await copyStore(f.store, middle.store);
    assert.equal(r.verified, true);
    assert.equal(r.events, (await eventRows(f.store)).length);
    const backTarget = testBackend.current === 'sqlite' ? `${tempDir()}/back.db` : await freshPgUrl();
    const back = await reopen(backTarget);
    await copyStore(middle.store, back);
    const log = await readLogState(f.store.db);
    for (const s of [middle.store, back]) {
      assert.deepEqual(await eventRows(s), await eventRows(f.store));
      assert.deepEqual(await dumpProjections(s.db), await dumpProjections(f.store.db));
      // The same Merkle log (name, size, root): checkpoints signed for the source verify the copy.
      assert.deepEqual(await readLogState(s.db), log);
    }
    // The copy is a working store: the engine carries on there.
    const there = new Tickets(new Engine({ store: middle.store, io: nodeIo, clock: new TestClock() }));
    assert.ok(await there.claimNext('w2', { leaseMs: 60_000 }));
    assert.equal((await verifyStore(middle.store.db)).ok, true);
    assert.deepEqual((await verifyLog(middle.store.db, { dir: null, key: null })).findings, []);
    await throwsCode(copyStore(f.store, back), 'CONFLICT', /already holds/);
    await middle.store.close();
    await back.close();
  });

  it('vt db copy of a store in use copies one moment of it: writes committed during the copy are in none of its tables', async () => {
    const f = await freshEngine();
    const tickets = new Tickets(f.engine);
    const ids = ['a', 'b', 'c'];
    for (const id of ids) {
      await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, lead);
      await tickets.addIssue(id, { title: 'first' }, lead);
    }
    const before = await eventRows(f.store);
    const projections = await dumpProjections(f.store.db);
    // vt db copy opens the source on a connection of its own; the engine goes on writing through
    // its own after every table the copy takes (events, projections, tickets: each a moment later).
    const source = await reopen(f.target);
    const target = await otherStore();
    let written = 0;
    const r = await copyStore(source, target.store, async () => {
      await tickets.addIssue(ids[written % ids.length]!, { title: `during ${written}` }, lead);
      written++;
    });
    assert.ok(written > 10 && (await eventRows(f.store)).length > before.length + 10);
    assert.equal(r.events, before.length, 'the events of the moment the copy began');
    assert.deepEqual(await eventRows(target.store), before);
    assert.deepEqual(
      await dumpProjections(target.store.db),
      projections,
      'and the projections of that moment',
    );
    assert.equal((await verifyStore(target.store.db)).ok, true);
    await source.close();
    await target.store.close();
  });

  it('vt db copy refuses a source whose Merkle log disagrees with its events', async () => {
    const f = await freshEngine();
    for (const id of ['a', 'b'])
      await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, lead);
    // Someone with the database rewrote a stored leaf (the events are untouched).
    await sql`update merkle_nodes set hash = ${Buffer.alloc(32, 7)} where level = 0 and idx = 1`.execute(
      f.store.db,
    );
    const target = await otherStore();
    await throwsCode(copyStore(f.store, target.store), 'VERIFY_FAILED', /rewritten/);
    await target.store.close();
  });

  it('the schema version is read without migrating; opening migrates a store that is behind', async () => {
    const target = testBackend.current === 'sqlite' ? `${tempDir()}/new.db` : await freshPgUrl();
    const s = await openStore(target, { migrate: 'never' });
    const before = await schemaStatus(s.db);
    assert.deepEqual([before.applied.length, before.pending.length > 0], [0, true]);
    await s.close();
    const m = await openStore(target);
    const after = await schemaStatus(m.db);
    assert.deepEqual([after.pending, after.unknown], [[], []]);
    await m.close();
  });

  it('an up-to-date store opens with reads alone', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ id: 'p', name: 'p', workspace: f.dir, train: f.train }, lead);
    await f.store.close();
    if (testBackend.current === 'sqlite') {
      const digest = () => createHash('sha256').update(readFileSync(f.target)).digest('hex');
      const before = digest();
      assert.equal(existsSync(`${f.target}-wal`), false);
      const s = await reopen(f.target);
      await new Engine({ store: s, io: nodeIo }).state('p');
      await s.close();
      assert.equal(digest(), before, 'opening and reading wrote nothing');
    } else {
      // A role that may only read can open and read the store: nothing tried to migrate.
      await pgQuery(f.target, 'create role vt_reader_ro login');
      await pgQuery(f.target, 'grant select on all tables in schema public to vt_reader_ro').catch(() => {});
      await pgQuery(f.target, 'grant select on all tables in schema public to vt_reader_ro');
      const s = await reopen(asRole(f.target, 'vt_reader_ro'));
      assert.equal((await new Engine({ store: s, io: nodeIo }).state('p')).id, 'p');
      assert.equal((await verifyStore(s.db)).ok, true);
      await s.close();
      await pgQuery(f.target, 'drop owned by vt_reader_ro');
      await pgQuery(f.target, 'drop role vt_reader_ro');
    }
  });
});

describe('store contract: PostgreSQL roles, timeouts and errors', () => {
  after(dropTestDatabases);

  it('the application role runs vt but cannot edit events, even with the trigger gone', async () => {
    const url = await freshPgUrl();
    const owner = await openStore(url);
    await owner.close();
    const role = `vt_app_${process.pid}`;
    await pgQuery(url, appRoleSql(role));
    const app = await openStore(asRole(url, role));
    const engine = new Engine({ store: app, io: nodeIo, clock: new TestClock() });
    const dir = tempDir();
    const { miniTrain } = await import('./helpers.ts');
    await engine.createProject({ id: 'p', name: 'p', workspace: dir, train: miniTrain() }, lead);
    await engine.tick('p', 'asked', null, { actor: 'lab' });
    // The owner drops the trigger; the role still may not rewrite history.
    await pgQuery(url, 'alter table events disable trigger events_no_update');
    await assert.rejects(
      app.db.updateTable('events').set({ actor: 'mallory' }).execute(),
      /permission denied/,
    );
    await assert.rejects(app.db.deleteFrom('events').execute(), /permission denied/);
    await assert.rejects(sql`truncate events`.execute(app.db), /permission denied/);
    // Its appends moved the Merkle log (the sequencer ran as this role), whose nodes it may not rewrite.
    assert.equal((await readLogState(app.db)).range.size, 2);
    await assert.rejects(
      app.db
        .updateTable('merkle_nodes')
        .set({ hash: Buffer.alloc(32) })
        .execute(),
      /permission denied/,
    );
    await assert.rejects(app.db.deleteFrom('merkle_nodes').execute(), /permission denied/);
    await assert.rejects(
      sql`alter table events disable trigger events_no_update`.execute(app.db),
      /must be owner/,
    );
    assert.equal((await verifyStore(app.db)).ok, true);
    await app.close();
    await pgQuery(url, `drop owned by ${role}`);
    await pgQuery(url, `drop role ${role}`);
  });

  it('a database behind the schema, and a server that cannot be reached, say what to run', async () => {
    const url = await freshPgUrl();
    await pgQuery(url, 'create role vt_nobody login');
    try {
      await throwsCode(openStore(asRole(url, 'vt_nobody')), 'STORE_ERROR', /migration .* failed/);
      await assert.rejects(openStore(asRole(url, 'vt_nobody')), (e: VtError) =>
        /vt db migrate/.test(e.hint ?? ''),
      );
    } finally {
      await pgQuery(url, 'drop owned by vt_nobody');
      await pgQuery(url, 'drop role vt_nobody');
    }
    await throwsCode(
      openStore('postgres://vt@127.0.0.1:1/vt'),
      'STORE_ERROR',
      /cannot reach PostgreSQL at postgres:\/\/vt@127\.0\.0\.1:1\/vt/,
    );
    await throwsCode(openStore('postgres://vt:s3cret@127.0.0.1:1/vt'), 'STORE_ERROR', /^(?!.*s3cret)/);
  });

  it('a statement that runs past the timeout is cancelled', async () => {
    const s = await openStore(await freshPgUrl(), { statementTimeoutMs: 300 });
    await assert.rejects(sql`select pg_sleep(5)`.execute(s.db), /statement timeout/);
    assert.equal((await sql<{ one: number }>`select 1 as one`.execute(s.db)).rows[0]!.one, 1);
    await s.close();
  });
});
