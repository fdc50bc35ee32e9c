import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import { verifyStore } from '../src/audit/audit.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { openStore } from '../src/store/store.ts';
import { folderStore, freshEngine, ROOT, spawnCollect, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const HAMMER = join(ROOT, 'test', 'fixtures', 'hammer.ts');

const hammer = (args: string[]) => spawnCollect([HAMMER, ...args]);

describeOnBackends('several processes, crashes', () => {
  it('two processes hammering one project lose no event and never fork the chain', async () => {
    const f = await freshEngine();
    await f.engine.createProject({ name: 'Shared', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    await f.store.close();
    const db = f.target;
    const n = 250;
    const a = hammer([db, f.dir, 'metrics', 'shared', String(n), 'writer-a']);
    const b = hammer([db, f.dir, 'metrics', 'shared', String(n), 'writer-b']);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, a.err());
    assert.equal(rb.code, 0, b.err());
    const store = await openStore(db);
    const events = await store.db
      .selectFrom('events')
      .select(['seq', 'actor'])
      .where('project_id', '=', 'shared')
      .orderBy('seq')
      .execute();
    assert.equal(events.length, 1 + 2 * n);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.equal(events.filter((e) => e.actor === 'writer-a').length, n);
    assert.equal(events.filter((e) => e.actor === 'writer-b').length, n);
    // Each acknowledged seq is unique across both writers: no two commits took the same place.
    const acked = [...a.out().matchAll(/ack shared (\d+)/g), ...b.out().matchAll(/ack shared (\d+)/g)].map(
      (m) => Number(m[1]),
    );
    assert.equal(new Set(acked).size, 2 * n);
    assert.equal((await verifyStore(store.db)).ok, true);
    // Both writers' events hold one store-wide commit order: positions 1..N, each once.
    const positions = await store.db.selectFrom('events').select('gseq').orderBy('gseq').execute();
    assert.deepEqual(
      positions.map((p) => p.gseq),
      positions.map((_, i) => i + 1),
    );
    await store.close();
  });

  it('kill -9 in the middle of a stream of commands leaves a store that verifies, with no half-done transition and no lost ack', async () => {
    // Each round is killed when the writer has acknowledged a chosen number of writes: an event, not
    // a clock, so the kill lands mid-stream however fast or slow the machine is.
    const seeds = fc.sample(fc.integer({ min: 5, max: 150 }), { numRuns: 6, seed: 42 });
    const dir = tempDir();
    const db = await folderStore(dir);
    let round = 0;
    for (const after of seeds) {
      round++;
      const h = hammer([db, dir, 'walk', `r${round}`, '1000']);
      try {
        await h.waitFor((out) => (out.match(/^ack /gm)?.length ?? 0) >= after, 600_000);
      } finally {
        h.child.kill('SIGKILL');
      }
      const res = await h.done;
      assert.equal(res.signal, 'SIGKILL', `round ${round} ended by itself: ${h.err()}`);
      const store = await openStore(db);
      const verified = await verifyStore(store.db);
      assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
      for (const m of h.out().matchAll(/ack (\S+) (\d+)/g)) {
        const row = await store.db
          .selectFrom('events')
          .select('seq')
          .where('project_id', '=', m[1]!)
          .where('seq', '=', Number(m[2]))
          .executeTakeFirst();
        assert.ok(row, `acknowledged ${m[1]}#${m[2]} was lost`);
      }
      for (const p of await store.db.selectFrom('projects').selectAll().execute()) {
        const t = await store.db
          .selectFrom('transitions')
          .selectAll()
          .where('project_id', '=', p.id)
          .orderBy('n')
          .execute();
        assert.deepEqual(
          t.map((x) => x.n),
          t.map((_, i) => i + 1),
          `${p.id}: transitions numbered without gaps`,
        );
        assert.equal(p.transitions, t.length);
        assert.equal(p.phase, t.at(-1)?.to_phase ?? 'triage');
      }
      const live = await dumpProjections(store.db);
      await rebuildProjections(store);
      assert.deepEqual(await dumpProjections(store.db), live, `round ${round}: projections match the events`);
      await store.close();
    }
  });
});
