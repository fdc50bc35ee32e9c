import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { startServer } from '../src/api/server.ts';
import { createToken } from '../src/api/tokens.ts';
import { AuditDir } from '../src/audit/audit-dir.ts';
import { writeCheckpoint } from '../src/audit/checkpoint-writer.ts';
import { Checkpointer } from '../src/audit/checkpointer.ts';
import { createLogKey } from '../src/audit/log-key.ts';
import type { RecordedEvent } from '../src/engine/events.ts';
import { VtError } from '../src/errors.ts';
import { readLogState } from '../src/store/merkle-log.ts';
import { freshEngine, tempDir, writeFile } from './helpers.ts';
import { describeOnBackends, rawStore } from './pg.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup(
  opts: {
    everyMs?: number;
    everyEvents?: number;
    minGapMs?: number;
    auditDir?: string;
    keyFile?: string;
  } = {},
) {
  const f = await freshEngine();
  dirs.push(f.dir);
  const keyDir = tempDir('vt-key-');
  dirs.push(keyDir);
  const keyFile = opts.keyFile ?? join(keyDir, 'log.ed25519');
  if (!opts.keyFile) createLogKey(keyFile, { name: 'vt.test/log' });
  const warnings: string[] = [];
  const dir = new AuditDir(opts.auditDir ?? join(f.dir, 'audit'));
  const cp = new Checkpointer({
    store: f.store,
    dir,
    keyFile,
    workspace: f.dir,
    warn: (m) => warnings.push(m),
    ...(opts.everyMs ? { everyMs: opts.everyMs } : {}),
    ...(opts.everyEvents ? { everyEvents: opts.everyEvents } : {}),
    ...(opts.minGapMs ? { minGapMs: opts.minGapMs } : {}),
  });
  f.engine.onCommitted(cp.onCommitted);
  await f.engine.createProject({ name: 'Alpha', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
  const sizes = () =>
    existsSync(dir.checkpointsDir) ? readdirSync(dir.checkpointsDir).map((n) => Number.parseInt(n, 10)) : [];
  return { ...f, cp, audit: dir, warnings, sizes };
}

/** Wait for a condition with a generous bound (never a timed assertion). */
async function eventually(cond: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${limitMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeOnBackends('the checkpointer: after commits, never inside them', () => {
  it('the first commit after a quiet spell is checkpointed at once; later ones within 60 s wait for the timer', async () => {
    const s = await setup({ everyMs: 400 });
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1], 'nothing kept before: the first commit is checkpointed');
    await s.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1], 'within the interval: not yet');
    await eventually(() => s.sizes().includes(2), 'the timer writes the checkpoint of size 2');
    await s.cp.close();
    await s.store.close();
    assert.deepEqual(s.warnings, []);
  });

  it('a checkpoint every 1,000 events (here every 5) even within the interval', async () => {
    const s = await setup({ everyMs: 3_600_000, everyEvents: 5 });
    await s.cp.flush();
    for (let i = 0; i < 5; i++) await s.engine.setMetric('alpha', 'auc', 0.5 + i / 100, { actor: 'lab-1' });
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1, 6]);
    await s.cp.close();
    await s.store.close();
  });

  it('an approval and a passed gate are checkpointed at once', async () => {
    const s = await setup({ everyMs: 3_600_000 });
    await s.cp.flush();
    await s.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    await s.engine.tick('alpha', 'sized', null, { actor: 'lab-1' });
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1]);
    await s.engine.approve('alpha', { actor: 'lead-2' });
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1, 4]);
    await s.cp.close();
    await s.store.close();
  });

  it('while commits keep coming, milestones wait out the gap after the last checkpoint; flush and close write what is owed', async () => {
    const s = await setup({ everyMs: 3_600_000, minGapMs: 3_600_000 });
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1], 'the first goes at once');
    await s.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    await s.engine.tick('alpha', 'sized', null, { actor: 'lab-1' });
    await s.engine.approve('alpha', { actor: 'lead-2' });
    // Within the hour-long gap the approval's checkpoint is owed, not written, until asked for.
    assert.equal(s.cp.owed, true);
    assert.equal(s.cp.written, 1);
    await s.cp.flush();
    assert.deepEqual(s.sizes(), [1, 4], 'flush writes the owed checkpoint, covering every commit');
    await s.engine.approve('alpha', { actor: 'lead-1' });
    assert.deepEqual(s.sizes(), [1, 4]);
    await s.cp.close();
    assert.deepEqual(s.sizes(), [1, 4, 5], 'close writes what is owed before it returns');
    await s.store.close();
    assert.deepEqual(s.warnings, []);
  });

  it('listeners run after the commit: another connection already sees the events', async () => {
    const s = await setup();
    const other = await rawStore(s.target);
    const seen: Promise<number>[] = [];
    s.engine.onCommitted((events: readonly RecordedEvent[]) => {
      // Asked from inside the listener, on another connection.
      seen.push(
        other
          .all<{ c: number | string }>(
            'select count(*) as c from events where project_id = ? and seq = ?',
            events[0]!.project_id,
            events[0]!.seq,
          )
          .then(([row]) => Number(row!.c)),
      );
    });
    await Promise.all([
      s.engine.tick('alpha', 'asked', null, { actor: 'lab-1' }),
      s.engine.setMetric('alpha', 'auc', 0.7, { actor: 'lab-1' }),
      s.engine.tick('alpha', 'sized', null, { actor: 'lab-1' }),
    ]);
    assert.deepEqual(await Promise.all(seen), [1, 1, 1]);
    await other.close();
    await s.cp.close();
    await s.store.close();
  });

  it('a failing checkpoint write is a warning, never a lost commit', async () => {
    const blocker = join(tempDir('vt-block-'), 'audit');
    dirs.push(join(blocker, '..'));
    writeFileSync(blocker, 'a file where the audit folder should be');
    const s = await setup({ auditDir: blocker, everyEvents: 1 });
    const c = await s.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    await s.cp.flush();
    assert.equal(c.events.length, 1);
    assert.ok(s.warnings.length >= 1, 'warned');
    assert.match(s.warnings[0]!, /checkpoint not written/);
    const n = await s.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirst();
    assert.equal(Number(n!.c), 2, 'both commits stand');
    await s.cp.close();
    await s.store.close();
  });

  it('a listener that throws does not undo or fail the commit', async () => {
    const s = await setup();
    s.engine.onCommitted(() => {
      throw new Error('listener broke');
    });
    const warned = new Promise<Error>((r) => process.once('warning', r));
    const c = await s.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    assert.equal(c.events[0]!.type, 'checklist.ticked');
    assert.match((await warned).message, /listener broke/);
    await s.cp.close();
    await s.store.close();
  });

  it('without a log key it stays idle and quiet; with a key inside the workspace it refuses and warns', async () => {
    const none = await setup({ keyFile: join(tempDir('vt-nokey-'), 'absent.ed25519') });
    await none.engine.approve('alpha', { actor: 'lead-2' });
    await none.cp.flush();
    assert.deepEqual(none.sizes(), []);
    assert.deepEqual(none.warnings, []);
    await none.cp.close();
    await none.store.close();
    const ws = await setup({ keyFile: join(tempDir('vt-x-'), 'unused') });
    const inside = join(ws.dir, 'log.ed25519');
    createLogKey(inside);
    const cp = new Checkpointer({
      store: ws.store,
      dir: ws.audit,
      keyFile: inside,
      workspace: ws.dir,
      warn: (m) => ws.warnings.push(m),
    });
    ws.engine.onCommitted(cp.onCommitted);
    await ws.engine.approve('alpha', { actor: 'lead-2' });
    await cp.flush();
    assert.match(ws.warnings.join(''), /inside the workspace/);
    assert.deepEqual(ws.sizes(), []);
    await cp.close();
    await ws.cp.close();
    await ws.store.close();
  });

  it('signs committed state only: a checkpoint asked for while a transaction is open never covers its events if it rolls back', async () => {
    const s = await setup({ everyMs: 3_600_000 });
    await s.cp.flush();
    const key = createLogKey(join(tempDir('vt-key2-'), 'log.ed25519'));
    const dir = new AuditDir(join(tempDir('vt-audit2-'), 'audit'));
    dirs.push(join(dir.dir, '..'));
    let signing: Promise<{ checkpoint: { size: number } }> | null = null;
    await assert.rejects(
      s.engine.decide(
        'alpha',
        { actor: 'lab-1' },
        () => [{ type: 'checklist.ticked', payload: { phase: 'triage', item: 'asked', note: null } }],
        async () => {
          // Asked for while this transaction is open, which then rolls back.
          signing = writeCheckpoint(s.store, dir, key);
          await new Promise((r) => setTimeout(r, 50));
          throw new VtError('CONFLICT', 'rolled back on purpose');
        },
      ),
      /rolled back on purpose/,
    );
    const w = await signing!;
    assert.equal(w.checkpoint.size, 1, 'the checkpoint covers only what committed');
    assert.equal((await readLogState(s.store.db)).range.size, 1);
    await s.cp.close();
    await s.store.close();
  });

  it('an approval made through the HTTP API (vt serve) is checkpointed at once', async () => {
    const f = await freshEngine();
    const keyDir = tempDir('vt-key-');
    dirs.push(f.dir, keyDir);
    const keyFile = join(keyDir, 'log.ed25519');
    createLogKey(keyFile, { name: 'vt.test/log' });
    const audit = new AuditDir(join(f.dir, 'audit'));
    await f.engine.createProject(
      { id: 'churn', name: 'Churn', team: 'growth', workspace: f.dir, train: f.train },
      { actor: 'lead-1' },
    );
    for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, { actor: 'lab-1' });
    writeFile(f.dir, 'docs/brief.md', '# Brief\n');
    await f.engine.addArtifact('churn', 'brief', undefined, { actor: 'lab-1' });
    const warnings: string[] = [];
    const server = await startServer({
      db: f.target,
      host: '127.0.0.1',
      port: 0,
      assetsDir: null,
      version: 'test',
      audit: { dir: audit.dir, keyFile, workspace: f.dir, warn: (m) => warnings.push(m) },
    });
    try {
      const { token } = await createToken(
        f.store,
        { person: 'lead-2', grants: [{ role: 'approver', project: '*' }], by: 'test' },
        new Date(),
      );
      const res = await fetch(`http://127.0.0.1:${server.port}/api/projects/churn/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 200, await res.text());
      const size = (await readLogState(f.store.db)).range.size;
      const kept = () =>
        existsSync(audit.checkpointsDir)
          ? readdirSync(audit.checkpointsDir).map((n) => Number.parseInt(n, 10))
          : [];
      await eventually(() => kept().includes(size), `a checkpoint of size ${size}, covering the approval`);
    } finally {
      await server.close();
    }
    assert.deepEqual(warnings, []);
    await f.store.close();
  });
});
