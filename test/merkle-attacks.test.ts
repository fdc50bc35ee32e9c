import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { verifyStore } from '../src/audit/audit.ts';
import { AuditDir } from '../src/audit/audit-dir.ts';
import { writeCheckpoint } from '../src/audit/checkpoint-writer.ts';
import { createLogKey } from '../src/audit/log-key.ts';
import { verifyTrail } from '../src/audit/verify-log.ts';
import { canonicalJson, sha256 } from '../src/canonical.ts';
import { eventHash, type StoredEvent, verifyEvents } from '../src/store/chain.ts';
import { openStore } from '../src/store/store.ts';
import { freshEngine, tempDir, writeFile } from './helpers.ts';
import { appendOutsideVt, rebuildLogTables } from './merkle-forge.ts';
import { describeOnBackends, type RawStore, rawStore, tamperable } from './pg.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Two projects' worth of events, a log key outside the workspace, and a checkpoint of the whole log. */
async function checkpointed() {
  const f = await freshEngine();
  const keyDir = tempDir('vt-key-');
  dirs.push(f.dir, keyDir);
  for (const name of ['Alpha', 'Beta']) {
    const id = name.toLowerCase();
    await f.engine.createProject({ name, workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    for (const item of ['asked', 'sized', 'extra'])
      await f.engine.tick(id, item, `note ${item}`, { actor: 'lab-1' });
    writeFile(f.dir, 'docs/brief.md', `# ${name}\n`);
    await f.engine.addArtifact(id, 'brief', undefined, { actor: 'lab-1' });
    for (let i = 0; i < 4; i++) await f.engine.setMetric(id, 'auc', 0.5 + i / 10, { actor: 'lab-1' });
  }
  const signer = createLogKey(join(keyDir, 'log.ed25519'), { name: 'example.org/test-log' });
  const dir = new AuditDir(join(f.dir, 'audit'));
  const cp = await writeCheckpoint(f.store, dir, signer);
  await f.store.close();
  return { file: f.target, dir, signer, checkpoint: cp.checkpoint };
}

/** Raw access as an attacker has it: the append-only triggers dropped. */
const attacker = tamperable;

type Row = StoredEvent & { gseq: number };

/** Re-hash a project's chain from `fromSeq` on, as an attacker who knows the format would. */
async function rechain(db: RawStore, project: string, fromSeq: number): Promise<void> {
  const rows = await db.all<Row>('select * from events where project_id = ? order by seq', project);
  let prev = rows.find((r) => r.seq === fromSeq - 1)?.hash ?? '0'.repeat(64);
  for (const r of rows.filter((x) => x.seq >= fromSeq)) {
    const digest = sha256(r.payload);
    const hash = eventHash(prev, { ...r, payload_sha256: digest });
    await db.run(
      'update events set payload_sha256 = ?, prev_hash = ?, hash = ? where project_id = ? and seq = ?',
      digest,
      prev,
      hash,
      project,
      r.seq,
    );
    prev = hash;
  }
  const last = rows[rows.length - 1]!;
  await db.run('update projects set head_seq = ?, head_hash = ? where id = ?', last.seq, prev, project);
}

/** The last event of a project's chain. */
async function headOf(db: RawStore, project: string): Promise<Row> {
  const [head] = await db.all<Row>(
    'select * from events where project_id = ? order by seq desc limit 1',
    project,
  );
  return { ...head!, gseq: Number(head!.gseq) };
}

/**
 * A forged approval at the end of alpha's chain with a correct chain hash, slipped into the global
 * order right after alpha's last event (before everything of beta), as if it had happened then.
 */
async function forgeApproval(db: RawStore): Promise<{ seq: number }> {
  const head = await headOf(db, 'alpha');
  const payload = canonicalJson({
    phase: 'intake',
    visit: 1,
    role: 'lead',
    decision: 'approve',
    reason: 'looks good',
    digest: 'f'.repeat(64),
  });
  const meta = {
    project_id: 'alpha',
    seq: head.seq + 1,
    ts: head.ts,
    actor: 'lead-2',
    type: 'approval.recorded',
    payload_sha256: sha256(payload),
    idempotency_key: null,
  };
  const hash = eventHash(head.hash, meta);
  await db.run('update events set gseq = -gseq where gseq > ?', head.gseq);
  await db.run('update events set gseq = 1 - gseq where gseq < 0');
  await db.run(
    'insert into events (project_id, seq, ts, actor, type, payload, payload_sha256, prev_hash, hash, idempotency_key, gseq) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    'alpha',
    meta.seq,
    meta.ts,
    meta.actor,
    meta.type,
    payload,
    meta.payload_sha256,
    head.hash,
    hash,
    null,
    head.gseq + 1,
  );
  await db.run("update projects set head_seq = ?, head_hash = ? where id = 'alpha'", meta.seq, hash);
  if (db.postgres) await db.run("update counters set value = value + 1 where name = 'gseq'");
  return { seq: meta.seq };
}

async function check(file: string, dir: AuditDir) {
  const store = await openStore(file, { synchronous: 'NORMAL' });
  try {
    return { chain: await verifyStore(store.db), trail: await verifyTrail(store.db, { dir, key: null }) };
  } finally {
    await store.close();
  }
}

async function chainOnly(file: string) {
  const db = await rawStore(file);
  const rows = await db.all<StoredEvent>('select * from events order by project_id, seq');
  await db.close();
  return verifyEvents(rows);
}

describeOnBackends('the Merkle log finds what a hash chain cannot', () => {
  it('an untouched store verifies against its checkpoint', async () => {
    const { file, dir } = await checkpointed();
    const { trail } = await check(file, dir);
    assert.equal(trail.ok, true, JSON.stringify(trail.findings));
    assert.equal(trail.log.checkpoints, 1);
    assert.equal(trail.log.uncovered, 0);
    assert.equal(trail.log.root, trail.log.checkpoint!.root);
  });

  it('attack 1: a forged event inserted with a correctly computed chain hash is found against the checkpoint', async () => {
    const { file, dir, checkpoint } = await checkpointed();
    const db = await attacker(file);
    const forged = await forgeApproval(db);
    await db.close();

    const { chain, trail } = await check(file, dir);
    assert.equal(chain.ok, true, 'the hash chains and the projects rows agree with the forgery');
    assert.equal(trail.ok, false);
    const inserted = trail.findings.find((f) => f.kind === 'inserted');
    assert.ok(inserted, JSON.stringify(trail.findings));
    assert.equal(inserted.project_id, 'alpha');
    assert.equal(inserted.seq, forged.seq);
    assert.match(inserted.message, /was inserted/);
    assert.equal(inserted.file, dir.fileFor(checkpoint.size));
    // The sequencer never saw it either.
    assert.ok(trail.findings.some((f) => f.kind === 'appended'));
  });

  it('attack 1b: the same forgery with the Merkle tables rebuilt is still found against the checkpoint', async () => {
    const { file, dir, checkpoint } = await checkpointed();
    const db = await attacker(file);
    await forgeApproval(db);
    await rebuildLogTables(db);
    await db.close();

    const { chain, trail } = await check(file, dir);
    assert.equal(chain.ok, true);
    assert.equal(trail.ok, false);
    assert.deepEqual(
      trail.findings.map((f) => f.kind),
      ['rewritten'],
      'the stored nodes agree with the forgery, so only the signed root can tell',
    );
    assert.equal(trail.findings[0]!.file, dir.fileFor(checkpoint.size));
    assert.match(trail.findings[0]!.message, /do not give the root signed/);
  });

  it("attack 2: a truncated tail with the projects row's head rewritten is found", async () => {
    const { file, dir, checkpoint } = await checkpointed();
    const db = await attacker(file);
    const top = (await headOf(db, 'beta')).seq;
    await db.run("delete from events where project_id = 'beta' and seq > ?", top - 2);
    const head = await headOf(db, 'beta');
    await db.run("update projects set head_seq = ?, head_hash = ? where id = 'beta'", head.seq, head.hash);
    await rebuildLogTables(db);
    await db.close();

    const { chain, trail } = await check(file, dir);
    assert.equal(chain.ok, true, 'the chains and heads agree with the truncation');
    assert.equal(trail.ok, false);
    const t = trail.findings.find((f) => f.kind === 'truncated');
    assert.ok(t, JSON.stringify(trail.findings));
    assert.match(
      t.message,
      new RegExp(`holds ${checkpoint.size - 2} events but .* was signed at ${checkpoint.size}`),
    );
  });

  it('attack 3: a log rewritten from the middle with every chain hash recomputed is found; a plain chain check passes it', async () => {
    const { file, dir } = await checkpointed();
    const db = await attacker(file);
    const [target] = await db.all<Row>(
      "select * from events where project_id = 'alpha' and type = 'metric.recorded' order by seq limit 1",
    );
    const payload = JSON.parse(target!.payload);
    await db.run(
      'update events set payload = ? where project_id = ? and seq = ?',
      canonicalJson({ ...payload, value: 0.97 }),
      'alpha',
      target!.seq,
    );
    await rechain(db, 'alpha', target!.seq);
    await db.close();

    // The chain check passes it: every hash was recomputed and the projects row follows.
    const plain = await chainOnly(file);
    assert.equal(plain.ok, true, 'verifyEvents passes a log rewritten from the middle');
    const { chain, trail } = await check(file, dir);
    assert.equal(chain.ok, true, 'so does the chain check against the projects rows');
    // The Merkle log against the signed checkpoint does not.
    assert.equal(trail.ok, false);
    const r = trail.findings.find((f) => f.kind === 'rewritten' && f.file);
    assert.ok(r, JSON.stringify(trail.findings));
    assert.equal(r.project_id, 'alpha');
    assert.equal(r.seq, target!.seq, 'the first rewritten event is named');
    assert.match(r.message, /rewritten/);
  });

  it('attack 3b: the same rewrite with the Merkle tables rebuilt: still found, and no new checkpoint is signed over it', async () => {
    const { file, dir, signer } = await checkpointed();
    const db = await attacker(file);
    await db.run("update events set actor = 'mallory' where project_id = 'alpha' and seq = 2");
    await rechain(db, 'alpha', 2);
    await rebuildLogTables(db);
    await db.close();
    const { chain, trail } = await check(file, dir);
    assert.equal(chain.ok, true);
    assert.equal(trail.ok, false);
    assert.ok(trail.findings.some((f) => f.kind === 'rewritten'));
    const store = await openStore(file, { synchronous: 'NORMAL' });
    await assert.rejects(writeCheckpoint(store, dir, signer), /refusing to sign the log/);
    await store.close();
  });

  it('a projects row whose head disagrees with its chain is named', async () => {
    const { file, dir } = await checkpointed();
    const db = await attacker(file);
    await db.run("update projects set head_seq = head_seq - 1 where id = 'beta'");
    await db.close();
    const { trail } = await check(file, dir);
    assert.equal(trail.ok, false);
    const h = trail.findings.find((f) => f.kind === 'head');
    assert.ok(h);
    assert.equal(h.project_id, 'beta');
    assert.match(h.message, /says its head is/);
  });

  it('an event appended outside vt after the checkpoint is named: the sequencer never logged it', async () => {
    const { file, dir } = await checkpointed();
    const db = await attacker(file);
    const appended = await appendOutsideVt(db, 'alpha', {
      type: 'checklist.ticked',
      actor: 'lab-1',
      payload: { phase: 'intake', item: 'extra', note: null },
    });
    await db.close();
    const { chain, trail } = await check(file, dir);
    assert.equal(chain.ok, true);
    const a = trail.findings.find((f) => f.kind === 'appended');
    assert.ok(a, JSON.stringify(trail.findings));
    assert.equal(a.project_id, 'alpha');
    assert.equal(a.seq, appended.seq);
    // And the store refuses to append after it: the sequencer's count no longer matches.
    const store = await openStore(file, { synchronous: 'NORMAL' });
    const { Engine } = await import('../src/engine/engine.ts');
    const { nodeIo } = await import('../src/io/node-io.ts');
    const engine = new Engine({ store, io: nodeIo });
    await assert.rejects(engine.setMetric('beta', 'auc', 0.6, { actor: 'lab-1' }), /added outside vt/);
    await store.close();
  });
});
