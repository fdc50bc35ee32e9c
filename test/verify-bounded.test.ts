import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sql } from 'kysely';
import { event } from '../src/engine/events.ts';
import { freshEngine, runVt, testBackend } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

/**
 * `vt audit verify` checks the store in a worker thread with a bounded heap (src/audit/verify-bounded.ts),
 * so its memory does not grow with the history (measured in bench/scale.bench.ts). What a test can
 * hold: the bounded check and the unbounded one reach the same verdict, on a good store and on a
 * tampered one; a check that outgrows the bound is run again without it instead of failing; a bad
 * bound is refused before any work.
 */
describeOnBackends('audit verify in a bounded heap', () => {
  /** A store with one project of `n` events (metric recordings), and its folder and target. */
  async function storeWith(n: number) {
    const f = await freshEngine();
    await f.engine.createProject(
      { id: 'p', name: 'P', workspace: f.dir, train: f.train },
      { actor: 'lead-1' },
    );
    for (let left = n - 1, v = 0; left > 0; left -= 1000) {
      const k = Math.min(1000, left);
      await f.engine.decide('p', { actor: 'lead-1' }, (s) =>
        Array.from({ length: k }, () =>
          event('metric.recorded', { name: 'auc', phase: s.phase, visit: s.visit, value: (v++ % 100) / 100 }),
        ),
      );
    }
    return f;
  }
  const verify = (dir: string, target: string, env: Record<string, string> = {}) =>
    runVt(['audit', 'verify', '--json'], { cwd: dir, env: { VT_DATABASE_URL: target, ...env } });
  // 16 MiB is too little for a project of 20,000 events folded in one heap: the bounded check gives up.
  const TOO_SMALL = { VT_VERIFY_HEAP_MB: '16' };

  it('reaches the same verdict bounded as unbounded, on a good store and on a tampered one', async () => {
    const f = await storeWith(20_000);
    try {
      const bounded = await verify(f.dir, f.target);
      assert.equal(bounded.code, 0, bounded.stderr);
      assert.doesNotMatch(bounded.stderr, /without a bound/);
      const r = JSON.parse(bounded.stdout) as { ok: boolean; checked: number };
      assert.equal(r.ok, true);
      assert.equal(r.checked, 20_000);
      const unbounded = await verify(f.dir, f.target, TOO_SMALL);
      assert.equal(unbounded.code, 0, unbounded.stderr);
      assert.match(
        unbounded.stderr,
        /needed more than 16 MiB of heap \(VT_VERIFY_HEAP_MB\); checking again without a bound/,
      );
      assert.deepEqual(JSON.parse(unbounded.stdout), r);

      // Whoever controls the database rewrites one recorded metric deep in the history.
      if (testBackend.current === 'postgres')
        await sql`alter table events disable trigger events_no_update`.execute(f.store.db);
      else await sql`drop trigger events_no_update`.execute(f.store.db);
      await sql`update events set payload = replace(payload, '"auc"', '"acc"') where project_id = 'p' and seq = 12343`.execute(
        f.store.db,
      );
      const caught = await verify(f.dir, f.target);
      assert.equal(caught.code, 1, caught.stderr);
      const bad = JSON.parse(caught.stdout) as { ok: boolean; firstBad: { project_id: string; seq: number } };
      assert.equal(bad.ok, false);
      assert.deepEqual([bad.firstBad.project_id, bad.firstBad.seq], ['p', 12343]);
      const caughtUnbounded = await verify(f.dir, f.target, TOO_SMALL);
      assert.equal(caughtUnbounded.code, 1, caughtUnbounded.stderr);
      assert.deepEqual(JSON.parse(caughtUnbounded.stdout), bad);
    } finally {
      await f.store.close();
    }
  });

  it('refuses a bound that is not a whole number of MiB of at least 16, before any work', async () => {
    const f = await storeWith(3);
    try {
      for (const bad of ['abc', '8', '-1', '32.5']) {
        const r = await verify(f.dir, f.target, { VT_VERIFY_HEAP_MB: bad });
        assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
        assert.match(r.stderr, /VT_VERIFY_HEAP_MB must be a whole number of MiB, at least 16/);
        assert.equal(r.stdout, '');
      }
    } finally {
      await f.store.close();
    }
  });
});
