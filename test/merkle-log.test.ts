import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, it } from 'node:test';
import { sql } from 'kysely';
import { verifyLog } from '../src/audit/verify-log.ts';
import { VtError } from '../src/errors.ts';
import { appendLeaf, emptyRange, eventLeafHash, rangeRoot } from '../src/merkle.ts';
import { readLogState } from '../src/store/merkle-log.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { freshEngine } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The root of the events as they are, in log order: the reference the stored log must match. */
async function rootOfEvents(store: Store): Promise<{ size: number; root: Buffer }> {
  const rows = await store.db
    .selectFrom('events')
    .select(['project_id', 'seq', 'hash'])
    .orderBy('gseq')
    .execute();
  const range = emptyRange();
  for (const e of rows) appendLeaf(range, eventLeafHash(e));
  return { size: range.size, root: rangeRoot(range) };
}

describeOnBackends('the store keeps the Merkle log with its events', () => {
  // SQLite: the calls share group commits, each in a savepoint. PostgreSQL: they run in parallel
  // transactions, and the sequencer runs where each commit's events are numbered.
  it('concurrent appends (group commits on SQLite, parallel transactions on PostgreSQL), some rolled back, leave a log equal to the events', async () => {
    const f = await freshEngine();
    dirs.push(f.dir);
    for (const name of ['Alpha', 'Beta', 'Gamma'])
      await f.engine.createProject({ name, workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 90; i++) {
      const id = ['alpha', 'beta', 'gamma'][i % 3]!;
      const fail = i % 7 === 3;
      calls.push(
        f.engine.decide(
          id,
          { actor: 'lab-1' },
          (s) => [
            { type: 'metric.recorded', payload: { phase: s.phase, visit: 1, name: 'auc', value: i / 100 } },
          ],
          // Some calls fail after their events were appended: their savepoint rolls back.
          fail
            ? async () => {
                throw new VtError('CONFLICT', `call ${i} refused after appending`);
              }
            : undefined,
        ),
      );
    }
    const settled = await Promise.allSettled(calls);
    const refused = settled.filter((r) => r.status === 'rejected').length;
    assert.equal(refused, 13);
    const events = await rootOfEvents(f.store);
    assert.equal(events.size, 3 + 90 - refused);
    const state = await readLogState(f.store.db);
    assert.equal(state.range.size, events.size);
    assert.deepEqual(state.root, events.root, 'the stored compact range gives the events root');
    const check = await verifyLog(f.store.db, { dir: null, key: null });
    assert.deepEqual(check.findings, []);
    await f.store.close();
  });

  it('a store made before the log (later-numbered migrations already run) gets it on upgrade: every event logged in gseq order', async () => {
    const f = await freshEngine();
    dirs.push(f.dir);
    await f.engine.createProject({ name: 'Alpha', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    for (let i = 0; i < 40; i++) await f.engine.setMetric('alpha', 'auc', i / 100, { actor: 'lab-1' });
    const before = await rootOfEvents(f.store);
    // Back to the schema before migration 010.
    await sql`drop table merkle_nodes`.execute(f.store.db);
    await sql`drop table merkle_log`.execute(f.store.db);
    await sql`delete from kysely_migration where name = '010_merkle_log'`.execute(f.store.db);
    await f.store.close();
    const store = await openStore(f.target, { synchronous: 'NORMAL' });
    const state = await readLogState(store.db);
    assert.equal(state.range.size, 41);
    assert.deepEqual(state.root, before.root);
    assert.match(state.origin, /^vt\.log\/[0-9a-f]{16}$/);
    const nodes = await sql<{ c: number }>`select count(*) as c from merkle_nodes`.execute(store.db);
    assert.equal(
      Number(nodes.rows[0]!.c),
      2 * 41 - 3,
      'every perfect subtree of 41 leaves: 2n − popcount(n), popcount(41) = 3',
    );
    await store.close();
  });

  it('an event inserted outside vt stops the next append instead of being logged unseen', async () => {
    const f = await freshEngine();
    dirs.push(f.dir);
    await f.engine.createProject({ name: 'Alpha', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    await f.engine.createProject({ name: 'Beta', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    // An event of a made-up project, with the next number in the global order, inserted with SQL
    // (on PostgreSQL the counter is moved too, as a careful forger would).
    const row = await f.store.db
      .selectFrom('events')
      .selectAll()
      .where('project_id', '=', 'beta')
      .executeTakeFirstOrThrow();
    await f.store.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('events')
        .values({ ...row, project_id: 'zeta', idempotency_key: null, gseq: 3 })
        .execute();
      if (f.store.kind === 'postgres')
        await sql`update counters set value = 3 where name = 'gseq'`.execute(trx);
    });
    await f.store.close();
    const store = await openStore(f.target, { synchronous: 'NORMAL' });
    const { Engine } = await import('../src/engine/engine.ts');
    const { nodeIo } = await import('../src/io/node-io.ts');
    const engine = new Engine({ store, io: nodeIo });
    await assert.rejects(engine.setMetric('alpha', 'auc', 0.5, { actor: 'lab-1' }), /added outside vt/);
    assert.equal((await readLogState(store.db)).range.size, 2, 'nothing was logged');
    const n = await store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirst();
    assert.equal(Number(n!.c), 3, 'and the refused append left no event');
    await store.close();
  });
});
