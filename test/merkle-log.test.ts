import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { appendLeaf, emptyRange, eventLeafHash, rangeRoot } from '../src/audit/merkle.ts';
import { verifyLog } from '../src/audit/verify-log.ts';
import { VtError } from '../src/errors.ts';
import { readLogState } from '../src/store/merkle-log.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { freshEngine } from './helpers.ts';

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

describe('the store keeps the Merkle log with its events', () => {
  it('concurrent appends sharing group commits, some rolled back, leave a log equal to the events', async () => {
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
    await f.store.close();
    // Back to the schema before migration 010.
    const file = join(f.dir, '.vt', 'vt.db');
    const raw = new Database(file);
    raw.exec(
      "drop table merkle_nodes; drop table merkle_log; delete from kysely_migration where name = '010_merkle_log';",
    );
    raw.close();
    const store = await openStore(file, { synchronous: 'NORMAL' });
    const state = await readLogState(store.db);
    assert.equal(state.range.size, 41);
    assert.deepEqual(state.root, before.root);
    assert.match(state.origin, /^vt\.log\/[0-9a-f]{16}$/);
    const nodes = await sql<{ c: number }>`select count(*) as c from merkle_nodes`.execute(store.db);
    assert.equal(
      nodes.rows[0]!.c,
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
    await f.store.close();
    const file = join(f.dir, '.vt', 'vt.db');
    const raw = new Database(file);
    const row = raw.prepare("select * from events where project_id = 'beta'").get() as Record<
      string,
      unknown
    >;
    raw
      .prepare(
        'insert into events (project_id, seq, ts, actor, type, payload, payload_sha256, prev_hash, hash, idempotency_key, gseq) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        'zeta',
        1,
        row.ts,
        row.actor,
        row.type,
        row.payload,
        row.payload_sha256,
        row.prev_hash,
        row.hash,
        null,
        3,
      );
    raw.close();
    const store = await openStore(file, { synchronous: 'NORMAL' });
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
