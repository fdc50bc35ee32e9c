// A writer stopped (SIGSTOP) while it holds PostgreSQL's commit-order lock, the one every commit that
// appends events takes for its last few statements: it must hold the other writers up for seconds
// (ORDER_LOCK_IDLE_MS), not for the connection's one-minute idle-in-transaction timeout. A real
// server, a real writer process, a real signal.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Engine } from '../src/engine/engine.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { ORDER_LOCK_IDLE_MS } from '../src/store/append.ts';
import { openStore } from '../src/store/store.ts';
import { miniTrain, ROOT, tempDir } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGCONT');
      c.kill('SIGKILL');
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await dropTestDatabases();
});

/** The vt sessions holding a lock on `counters` (taken only under the order lock), with their state. */
const HOLDERS = `select a.pid, a.state from pg_locks l
  join pg_class c on c.oid = l.relation
  join pg_stat_activity a on a.pid = l.pid
  where c.relname = 'counters' and l.granted and a.application_name = 'vt'`;

describe('a writer stopped under the commit-order lock [postgres]', () => {
  it('holds the other writers up for seconds, not a minute: its session is cut off and they commit', async () => {
    const url = await freshPgUrl();
    const dir = tempDir('vt-stopped-');
    dirs.push(dir);
    const store = await openStore(url);
    const engine = new Engine({ store, io: nodeIo });
    const admin = new pg.Client({ connectionString: url, application_name: 'vt-test' });
    await admin.connect();
    try {
      for (const id of ['loop', 'other'])
        await engine.createProject({ id, name: id, workspace: dir, train: miniTrain() }, { actor: 'lead-1' });
      // A writer committing metrics as fast as it can, each commit taking the order lock at its end.
      const child = spawn(
        process.execPath,
        [join(ROOT, 'test', 'fixtures', 'hammer.ts'), url, dir, 'metrics', 'loop', '100000000', 'lab-1'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      await once(child.stdout!, 'data');
      // Stop it at a moment it holds the lock: look, stop, and look again (it may have committed
      // in between; then let it go on and try again).
      let held: number | null = null;
      for (let tries = 0; tries < 5_000 && held === null; tries++) {
        if (!(await admin.query(HOLDERS)).rows.length) continue;
        child.kill('SIGSTOP');
        for (let look = 0; look < 50 && held === null; look++) {
          const rows = (await admin.query<{ pid: number; state: string }>(HOLDERS)).rows;
          if (!rows.length) break;
          if (rows[0]!.state === 'idle in transaction') held = rows[0]!.pid;
          else await new Promise((r) => setTimeout(r, 10));
        }
        if (held === null) child.kill('SIGCONT');
      }
      assert.ok(held !== null, 'the writer was stopped while it held the order lock');
      // Another writer needs the same lock. Under the connection's own timeout (60 s) it would wait
      // a minute; under the lock's it waits about ORDER_LOCK_IDLE_MS.
      const t0 = Date.now();
      const c = await engine.setMetric('other', 'auc', 0.7, { actor: 'lab-1' });
      const waited = Date.now() - t0;
      assert.equal(c.state.metrics.auc?.value, 0.7);
      assert.ok(
        waited < 45_000,
        `the other writer waited ${waited} ms (the lock's idle limit is ${ORDER_LOCK_IDLE_MS} ms)`,
      );
      const gone = await admin.query('select 1 from pg_stat_activity where pid = $1', [held]);
      assert.equal(gone.rows.length, 0, "the stopped writer's session was ended by the server");
      // Let it go: its next statement finds its connection gone, and the commit it was in never happened.
      child.kill('SIGCONT');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.notEqual(code, 0);
      const { verifyStore } = await import('../src/audit/audit.ts');
      const audit = await verifyStore(store.db);
      assert.equal(audit.ok, true, JSON.stringify(audit.firstBad));
    } finally {
      await admin.end();
      await store.close();
    }
  });
});
