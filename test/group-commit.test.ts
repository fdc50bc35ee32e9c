import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { verifyStore } from '../src/audit/audit.ts';
import { verifyLog } from '../src/audit/verify-log.ts';
import { Engine } from '../src/engine/engine.ts';
import { event } from '../src/engine/events.ts';
import { VtError } from '../src/errors.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { appendEvents } from '../src/store/append.ts';
import { readLogState, sqliteSequencer } from '../src/store/merkle-log.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { freshEngine } from './helpers.ts';

describe('group commit', () => {
  it('concurrent calls in one process share commits; failures roll back alone; nothing is lost or folded twice', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            project: fc.constantFrom('a', 'b', 'c'),
            op: fc.constantFrom('metric', 'bad-metric', 'tick', 'bad-tick', 'context'),
            value: fc.double({ min: 0, max: 1, noNaN: true }),
          }),
          { minLength: 5, maxLength: 60 },
        ),
        async (ops) => {
          const f = await freshEngine();
          try {
            for (const id of ['a', 'b', 'c'])
              await f.engine.createProject(
                { id, name: id, workspace: f.dir, train: f.train },
                { actor: 'lead-1' },
              );
            const who = { actor: 'lab-1' };
            // All in flight at once: the store groups them into shared transactions.
            const results = await Promise.allSettled(
              ops.map((o) => {
                switch (o.op) {
                  case 'metric':
                    return f.engine.setMetric(o.project, 'auc', o.value, who);
                  case 'bad-metric':
                    return f.engine.setMetric(o.project, 'no_such_metric', o.value, who);
                  case 'tick':
                    return f.engine.tick(o.project, 'asked', null, who);
                  case 'bad-tick':
                    return f.engine.tick(o.project, 'no-such-item', null, who);
                  default:
                    return f.engine.reopenItem(o.project, 'sized', 'never ticked', who);
                }
              }),
            );
            for (const [i, r] of results.entries()) {
              const bad = ops[i]!.op !== 'metric' && ops[i]!.op !== 'tick';
              if (bad)
                assert.ok(r.status === 'rejected' && r.reason instanceof VtError, `op ${i} should fail`);
              else assert.equal(r.status, 'fulfilled', `op ${i}: ${r.status === 'rejected' ? r.reason : ''}`);
            }
            const metrics = await f.store.db.selectFrom('metrics').select(['project_id', 'value']).execute();
            assert.equal(
              metrics.length,
              ops.filter((o) => o.op === 'metric').length,
              'every acknowledged metric stored, no failed one',
            );
            assert.equal((await verifyStore(f.store.db)).ok, true);
            for (const id of ['a', 'b', 'c']) {
              const cached = structuredClone(await f.engine.state(id));
              const fresh = await new Engine({ store: f.store, io: nodeIo }).state(id);
              assert.deepEqual(fresh, cached, `the cache of ${id} equals a fresh fold`);
            }
            const live = await dumpProjections(f.store.db);
            await rebuildProjections(f.store);
            assert.deepEqual(await dumpProjections(f.store.db), live);
          } finally {
            await f.store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the Merkle log takes what each shared commit kept: never an event of a savepoint that rolled back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ events: fc.integer({ min: 1, max: 3 }), fails: fc.boolean() }), {
          minLength: 1,
          maxLength: 40,
        }),
        async (calls) => {
          const f = await freshEngine();
          try {
            // Each call appends to its own chain, then fails after appending or commits.
            const results = await Promise.allSettled(
              calls.map((c, i) =>
                f.store.transaction(async (trx) => {
                  const recorded = await appendEvents(
                    trx,
                    `p${i}`,
                    { seq: 0, hash: '' },
                    Array.from({ length: c.events }, (_, k) =>
                      event('metric.recorded', { phase: 'p', visit: 1, name: `m${k}`, value: k }),
                    ),
                    { ts: new Date().toISOString(), actor: 'lab-1', idempotencyKey: null },
                  );
                  if (c.fails) throw new Error('after appending');
                  return recorded;
                }),
              ),
            );
            for (const [i, r] of results.entries())
              assert.equal(r.status, calls[i]!.fails ? 'rejected' : 'fulfilled');
            const kept = calls.filter((c) => !c.fails).reduce((n, c) => n + c.events, 0);
            const events = await f.store.db.selectFrom('events').select('gseq').orderBy('gseq').execute();
            assert.deepEqual(
              events.map((e) => e.gseq),
              Array.from({ length: kept }, (_, i) => i + 1),
              'the kept events, numbered without gaps',
            );
            assert.equal((await readLogState(f.store.db)).range.size, kept, 'the log holds exactly them');
            const log = await verifyLog(f.store.db, { dir: null, key: null });
            assert.equal(log.size, kept);
            assert.ok(log.ok, JSON.stringify(log));
          } finally {
            await f.store.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('the sequencer reuses a compact range only after its transaction committed', async () => {
    const f = await freshEngine({ backend: 'sqlite' });
    const raw = new Database(f.target);
    try {
      await f.engine.createProject({ id: 'a', name: 'a', workspace: f.dir, train: f.train }, { actor: 'x' });
      const mine = sqliteSequencer(raw);
      const other = sqliteSequencer(raw);
      const next = () =>
        Number(raw.prepare<[], { g: number | null }>('select max(gseq) as g from events').get()?.g ?? 0) + 1;
      // Two events in one transaction, taken into the log by `seq`; committed or rolled back.
      const append = (seq: ReturnType<typeof sqliteSequencer>, project: string, commit: boolean) => {
        raw.exec('begin immediate');
        const g = next();
        for (const i of [0, 1])
          raw
            .prepare(
              `insert into events (project_id, seq, ts, actor, type, payload, payload_sha256, prev_hash, hash, gseq)
               values (?, ?, '2026-01-01T00:00:00.000Z', 'x', 'context.noted', '{}', '', '', ?, ?)`,
            )
            .run(project, i + 1, randomBytes(32).toString('hex'), g + i);
        seq.log(g);
        raw.exec(commit ? 'commit' : 'rollback');
        seq.settled(commit);
      };
      append(mine, 'first', true);
      // Its next transaction is lost; another writer then brings the log to the very size it left.
      append(mine, 'rolled-back', false);
      append(other, 'other', true);
      append(mine, 'after', true);
      const log = await verifyLog(f.store.db, { dir: null, key: null });
      assert.ok(
        log.ok,
        `the log holds the events in the table, not the rolled-back ones: ${JSON.stringify(log)}`,
      );
      assert.equal(log.size, next() - 1);
    } finally {
      raw.close();
      await f.store.close();
    }
  });
});
