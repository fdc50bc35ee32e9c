import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { verifyStore } from '../src/audit/audit.ts';
import { AuditDir } from '../src/audit/audit-dir.ts';
import { exportChainBundle, exportLogBundle, verifyBundle } from '../src/audit/bundle.ts';
import { createLogKey } from '../src/audit/log-key.ts';
import { openStore } from '../src/store/store.ts';
import { freshEngine, runVt, tempDir, writeFile } from './helpers.ts';
import { describeOnBackends, type Row, rawStore, tamperable } from './pg.ts';

const COLUMNS = [
  'project_id',
  'seq',
  'ts',
  'actor',
  'type',
  'payload',
  'payload_sha256',
  'prev_hash',
  'hash',
  'idempotency_key',
] as const;

/** A store with two projects and a few dozen events. */
async function populated() {
  const f = await freshEngine();
  for (const name of ['Alpha', 'Beta']) {
    await f.engine.createProject(
      { name, workspace: f.dir, train: f.train },
      { actor: 'lead-1', idempotencyKey: `create-${name}` },
    );
    const id = name.toLowerCase();
    for (const item of ['asked', 'sized', 'extra'])
      await f.engine.tick(id, item, `note ${item}`, { actor: 'lab-1' });
    writeFile(f.dir, 'docs/brief.md', `# ${name}\n`);
    await f.engine.addArtifact(id, 'brief', undefined, { actor: 'lab-1' });
    await f.engine.approve(id, { actor: 'lead-2' });
    await f.engine.advance(id, { actor: 'lead-1' });
    for (let i = 0; i < 5; i++) await f.engine.setMetric(id, 'auc', 0.5 + i / 10, { actor: 'lab-1' });
  }
  await f.store.close();
  return { target: f.target, dir: f.dir };
}

function flip(value: unknown): unknown {
  if (value === null) return 'injected';
  if (typeof value === 'number') return value + 1000;
  const s = String(value);
  const i = Math.floor(s.length / 2);
  const c = s.charCodeAt(i);
  return s.slice(0, i) + String.fromCharCode(c === 0x61 ? 0x62 : 0x61) + s.slice(i + 1);
}

async function verifyAt(target: string) {
  const store = await openStore(target, { synchronous: 'NORMAL' });
  try {
    return await verifyStore(store.db);
  } finally {
    await store.close();
  }
}

describeOnBackends('audit trail', () => {
  it('the store refuses UPDATE and DELETE on events', async () => {
    const { target } = await populated();
    const db = await rawStore(target);
    try {
      await assert.rejects(db.run("update events set actor = 'x' where seq = 1"), /append-only/);
      await assert.rejects(db.run('delete from events where seq = 1'), /append-only/);
    } finally {
      await db.close();
    }
  });

  it('a changed byte in any column of any event is found at exactly that event', async () => {
    const { target } = await populated();
    const db = await tamperable(target);
    try {
      const rows = await db.all('select * from events order by project_id, seq');
      assert.ok(rows.length > 20);
      let cases = 0;
      for (const row of rows) {
        for (const col of COLUMNS) {
          const tampered = flip(row[col]);
          await db.run(
            `update events set ${col} = ? where project_id = ? and seq = ?`,
            tampered,
            row.project_id,
            row.seq,
          );
          const r = await verifyAt(target);
          assert.equal(r.ok, false, `${col} of ${row.project_id}#${row.seq} changed unnoticed`);
          assert.equal(
            r.firstBad!.seq,
            row.seq,
            `${col} of ${row.project_id}#${row.seq}: reported ${JSON.stringify(r.firstBad)}`,
          );
          if (col !== 'project_id') assert.equal(r.firstBad!.project_id, row.project_id);
          const where =
            col === 'project_id' ? [tampered, row.seq] : [row.project_id, col === 'seq' ? tampered : row.seq];
          await db.run(`update events set ${col} = ? where project_id = ? and seq = ?`, row[col], ...where);
          cases++;
        }
      }
      assert.equal((await verifyAt(target)).ok, true, 'restored store verifies again');
      assert.equal(cases, rows.length * COLUMNS.length);
    } finally {
      await db.close();
    }
  });

  it('swapped, deleted and truncated events are found', async () => {
    const { target } = await populated();
    const db = await tamperable(target);
    const one = async (seq: number) =>
      (await db.all("select * from events where project_id = 'alpha' and seq = ?", seq))[0]!;
    const put = (row: Row, seq: number) =>
      db.run(
        'update events set ts = ?, actor = ?, type = ?, payload = ?, payload_sha256 = ?, prev_hash = ?, hash = ? where project_id = ? and seq = ?',
        row.ts,
        row.actor,
        row.type,
        row.payload,
        row.payload_sha256,
        row.prev_hash,
        row.hash,
        'alpha',
        seq,
      );
    try {
      const a = await one(4);
      const b = await one(7);
      await put(b, 4);
      await put(a, 7);
      assert.deepEqual((await verifyAt(target)).firstBad?.seq, 4);
      await put(a, 4);
      await put(b, 7);
      await db.run("delete from events where project_id = 'beta' and seq = 9");
      assert.deepEqual((await verifyAt(target)).firstBad, {
        project_id: 'beta',
        seq: 9,
        reason: 'event 9 is missing',
      });
    } finally {
      await db.close();
    }
    const fresh = await populated();
    const db2 = await tamperable(fresh.target);
    try {
      const [last] = await db2.all("select max(seq) as m from events where project_id = 'beta'");
      const m = Number(last!.m);
      await db2.run("delete from events where project_id = 'beta' and seq > ?", m - 2);
      const r = await verifyAt(fresh.target);
      assert.equal(r.ok, false);
      assert.equal(r.firstBad!.seq, m - 1);
      assert.match(r.firstBad!.reason, /missing/);
    } finally {
      await db2.close();
    }
  });

  it('an exported bundle verifies offline; a tampered or truncated one does not', async () => {
    const { target } = await populated();
    const store = await openStore(target);
    const out = join(tempDir(), 'audit.jsonl');
    const signer = createLogKey(join(tempDir(), 'log.ed25519'));
    const { manifest: m } = await exportLogBundle(store, out, {
      now: new Date(),
      dir: new AuditDir(join(tempDir(), 'audit')),
      signer,
      since: null,
    });
    await store.close();
    assert.equal(verifyBundle(out).ok, true);
    // Verified by the CLI in a folder with no vt.yaml and no store.
    const elsewhere = tempDir();
    const ok = await runVt(['audit', 'verify', '--bundle', out], { cwd: elsewhere });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`${m.events} events in 2 chains verify`));
    const lines = readFileSync(out, 'utf8').split('\n');
    const tampered = join(elsewhere, 't.jsonl');
    const ev = JSON.parse(lines[5]!);
    writeFileSync(
      tampered,
      [...lines.slice(0, 5), JSON.stringify({ ...ev, actor: 'mallory' }), ...lines.slice(6)].join('\n'),
    );
    const bad = await runVt(['audit', 'verify', '--bundle', tampered], { cwd: elsewhere });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`event ${ev.project_id}#${ev.seq} does not verify`));
    const short = join(elsewhere, 's.jsonl');
    writeFileSync(short, `${lines.slice(0, -2).join('\n')}\n`);
    assert.equal(verifyBundle(short).ok, false);
    const manifest = JSON.parse(lines[0]!);
    const forged = join(elsewhere, 'f.jsonl');
    writeFileSync(
      forged,
      [JSON.stringify({ ...manifest, events: manifest.events + 1 }), ...lines.slice(1)].join('\n'),
    );
    assert.equal(verifyBundle(forged).ok, false);
  });

  it('vt audit verify exits 1 and names the event when the store was tampered with', async () => {
    const { target, dir } = await populated();
    assert.equal((await runVt(['audit', 'verify'], { cwd: dir })).code, 0);
    const db = await tamperable(target);
    await db.run(
      "update events set payload = replace(payload, '0.7', '0.9') where project_id = 'beta' and type = 'metric.recorded'",
    );
    await db.close();
    const r = await runVt(['audit', 'verify', '--json'], { cwd: dir });
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.equal(out.firstBad.project_id, 'beta');
    assert.match(out.firstBad.reason, /payload/);
  });

  it('a chain-only bundle (version 1, what the HTTP API serves) verifies and says it has no checkpoint', async () => {
    const { target } = await populated();
    const store = await openStore(target);
    const out = join(tempDir(), 'v1.jsonl');
    const m = await exportChainBundle(store.db, out, new Date(), 'alpha');
    await store.close();
    assert.equal(m.version, 1);
    const r = verifyBundle(out);
    assert.equal(r.ok, true);
    assert.equal(r.version, 1);
    assert.match(r.warnings.join(), /version 1 bundle: chains only/);
  });
});
