import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { verifyStore } from '../src/audit/audit.ts';
import { exportChainBundle, verifyBundle } from '../src/audit/bundle.ts';
import { sha256 } from '../src/canonical.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { VtError } from '../src/errors.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { appRoleSql } from '../src/store/dialects/postgres.ts';
import { dumpProjections, rebuildProjections } from '../src/store/projector.ts';
import { openStore, type Store } from '../src/store/store.ts';
import {
  folderStore,
  freshEngine,
  MINI,
  runVt,
  TestClock,
  tempDir,
  testBackend,
  writeFile,
} from './helpers.ts';
import { asRole, describeOnBackends, dropTestDatabases, freshPgUrl, pgQuery, storeBytes } from './pg.ts';

/** Personal data no pattern could recognise: only a person's erasure removes it. */
const personal = () =>
  `Call Jane Roe on +44 7700 900${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`;

/** Every event row, every column: what "changes nothing" compares. */
async function eventRows(store: Store) {
  return store.db.selectFrom('events').selectAll().orderBy('project_id').orderBy('seq').execute();
}

/** The store file and its write-ahead log, as bytes. */
async function throwsCode(p: Promise<unknown>, code: string, message?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof VtError, `a VtError, not ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** A project in triage with ticks, a brief, a note holding personal data, and an approval. */
async function project(f: Awaited<ReturnType<typeof freshEngine>>, text: string) {
  await f.engine.createProject(
    { id: 'p', name: 'Churn', workspace: f.dir, train: f.train },
    { actor: 'lead-1' },
  );
  const t = new Tickets(f.engine);
  await f.engine.tick('p', 'asked', 'asked by sales', { actor: 'lab-1' });
  const note = await t.addContext(
    'p',
    { kind: 'note', text },
    {
      actor: 'lab-1',
      idempotencyKey: 'note-1',
      request: `vt context add p note "${text}"`,
    },
  );
  await f.engine.tick('p', 'sized', null, { actor: 'lab-1' });
  writeFile(f.dir, 'docs/brief.md', '# Brief\n\nOwner: Priya Nair, data team\n');
  const art = await f.engine.addArtifact('p', 'brief', undefined, { actor: 'lab-1' });
  await f.engine.approve('p', { actor: 'lead-2' });
  return {
    noteSeq: note.events[0]!.seq,
    artifactSeq: art.events.find((e) => e.type === 'artifact.recorded')!.seq,
  };
}

describeOnBackends('erasing a payload', () => {
  it('the text leaves the state and every projection; the chain verifies and names who erased what and why', async () => {
    const f = await freshEngine();
    const text = personal();
    const { noteSeq } = await project(f, text);
    // Another engine (a server, a worker) has the project cached from before the erasure.
    const other = new Engine({ store: f.store, io: nodeIo, clock: new TestClock() });
    assert.equal((await other.state('p')).context[0]!.text, text);
    const headBefore = (await f.engine.state('p')).seq;

    const c = await f.engine.erase('p', noteSeq, 'personal data pasted into a note', { actor: 'lead-1' });
    assert.deepEqual(c.erasure.fields, ['text']);
    assert.equal(c.erasure.type, 'context.added');
    assert.equal(c.events.length, 1);
    assert.equal(c.events[0]!.type, 'event.erased');
    assert.equal(c.events[0]!.seq, headBefore + 1);

    // The state, every other engine's state, and the projections no longer hold the text.
    assert.deepEqual(
      c.state.context.map((e) => [e.seq, e.kind, e.text]),
      [[noteSeq, 'note', '[erased]']],
    );
    assert.equal((await other.state('p')).context[0]!.text, '[erased]');
    const live = await dumpProjections(f.store.db);
    assert.ok(!JSON.stringify(live).includes(text), 'no projection holds the text');
    const request = await f.store.db.selectFrom('idempotency_requests').selectAll().execute();
    assert.ok(!JSON.stringify(request).includes(text), 'the idempotency request is scrubbed');
    assert.equal(
      (await f.store.db.selectFrom('snapshots').selectAll().where('project_id', '=', 'p').execute()).length,
      0,
    );
    // A rebuild from the events gives the same tables.
    await rebuildProjections(f.store);
    assert.deepEqual(await dumpProjections(f.store.db), live);

    // The chain still verifies: the event kept its digest; the erasure is named.
    const v = await verifyStore(f.store.db);
    assert.equal(v.ok, true, JSON.stringify(v.firstBad));
    assert.deepEqual(
      v.erasures.map((e) => [e.project_id, e.seq, e.type, e.by_seq, e.actor, e.reason]),
      [['p', noteSeq, 'context.added', headBefore + 1, 'lead-1', 'personal data pasted into a note']],
    );
    const row = (await eventRows(f.store)).find((r) => r.seq === noteSeq)!;
    assert.equal(row.payload.includes(text), false);
    assert.notEqual(sha256(row.payload), row.payload_sha256, 'the digest is the original payload’s');
    assert.match(row.payload, /^\{"erased_by_seq":\d+,"residue":\{.*"text":"\[erased\]"/);

    // The project goes on: the approval still counts, the triage gates still pass.
    const adv = await f.engine.advance('p', { actor: 'lead-1' });
    assert.equal(adv.outcome.outcome, 'advanced');
    assert.equal((await verifyStore(f.store.db)).ok, true);
    await f.store.close();
  });

  it('an artifact preview is erased and the artifact kept: same hash, same gate verdict', async () => {
    const f = await freshEngine();
    const { artifactSeq } = await project(f, 'a harmless note');
    const before = (await f.engine.state('p')).evidence.triage!.artifacts.brief!;
    assert.match(before.preview ?? '', /Owner: Priya Nair/);
    const gatesBefore = await f.engine.checkGates('p', { actor: 'lead-1' });
    const c = await f.engine.erase('p', artifactSeq, 'owner named in the brief preview', { actor: 'lead-1' });
    assert.deepEqual(c.erasure.fields, ['preview']);
    const after = c.state.evidence.triage!.artifacts.brief!;
    assert.deepEqual({ ...after, preview: null }, { ...before, preview: null });
    assert.equal(after.preview, '[erased]');
    const gatesAfter = await f.engine.checkGates('p', { actor: 'lead-1' });
    assert.deepEqual(
      gatesAfter.results.map((r) => [r.gate, r.status]),
      gatesBefore.results.map((r) => [r.gate, r.status]),
    );
    // A gate's recorded messages and evidence can be erased too; its verdict stays.
    const evaluated = gatesAfter.events.find((e) => e.type === 'gate.evaluated')!;
    const g = await f.engine.erase('p', evaluated.seq, 'the evidence quoted the brief', { actor: 'lead-1' });
    assert.ok(g.erasure.fields.includes('results[0].message'), g.erasure.fields.join());
    const ev = g.state.evaluations.triage!;
    assert.equal(ev.passed, gatesAfter.passed);
    assert.ok(ev.results.every((r) => r.message === '[erased]'));
    assert.equal((await verifyStore(f.store.db)).erasures.length, 2);
    assert.ok(!JSON.stringify(await dumpProjections(f.store.db)).includes('Priya Nair'));
    await f.store.close();
  });

  it('refusals are clear and change nothing: twice, a missing event, no reason, an erasure record, no free text, an agent session', async () => {
    const f = await freshEngine();
    const { noteSeq } = await project(f, personal());
    const c = await f.engine.erase('p', noteSeq, 'first time', { actor: 'lead-1' });
    const record = c.events[0]!.seq;
    const rows = await eventRows(f.store);
    const lead = { actor: 'lead-1' };
    await throwsCode(
      f.engine.erase('p', noteSeq, 'again', lead),
      'CONFLICT',
      new RegExp(`already erased \\(by #${record}\\)`),
    );
    await throwsCode(f.engine.erase('p', 999, 'missing', lead), 'NOT_FOUND', /no event #999/);
    await throwsCode(f.engine.erase('p', 0, 'zero', lead), 'BAD_INPUT');
    await throwsCode(f.engine.erase('nope', 1, 'no project', lead), 'NOT_FOUND', /no project "nope"/);
    await throwsCode(f.engine.erase('p', 2, '   ', lead), 'BAD_INPUT', /needs a reason/);
    await throwsCode(f.engine.erase('p', record, 'erase the erasure', lead), 'BAD_INPUT', /erasure record/);
    const metric = await f.engine.setMetric('p', 'auc', 0.9, { actor: 'lab-1' });
    const rows2 = await eventRows(f.store);
    await throwsCode(
      f.engine.erase('p', metric.events[0]!.seq, 'numbers only', lead),
      'BAD_INPUT',
      /holds no free text/,
    );
    assert.deepEqual(await eventRows(f.store), rows2, 'refusals appended and changed nothing');
    assert.deepEqual(rows2.slice(0, rows.length), rows);

    // An agent session may not erase: refused, and the refusal is on the record.
    const tick = (await eventRows(f.store)).find((r) => r.type === 'checklist.ticked')!;
    await throwsCode(
      f.engine.erase('p', tick.seq, 'hide my tick', { actor: 'agent:lab', session: 'p-1-triage.s1' }),
      'NOT_PERMITTED',
      /agent session cannot erase an event; a person must/,
    );
    const after = await eventRows(f.store);
    assert.equal(after.length, rows2.length + 1);
    const refused = after.at(-1)!;
    assert.equal(refused.type, 'session.tool-called');
    assert.deepEqual(JSON.parse(refused.payload), {
      session: 'p-1-triage.s1',
      tool: 'erase an event',
      outcome: 'refused',
      reason: 'an agent session cannot erase an event; a person must',
    });
    assert.equal(after.find((r) => r.seq === tick.seq)!.payload, tick.payload, 'the tick is intact');
    // planErasure (the CLI's dry run) is refused the same way.
    await throwsCode(
      f.engine.planErasure('p', tick.seq, 'plan', { actor: 'agent:lab', session: 'p-1-triage.s1' }),
      'NOT_PERMITTED',
    );
    assert.equal((await verifyStore(f.store.db)).ok, true);
    await f.store.close();
  });
});

describe('erasing a payload: the SQLite file', () => {
  it('the erased text leaves the store file and its write-ahead log', async () => {
    const f = await freshEngine();
    const text = personal();
    const { noteSeq, artifactSeq } = await project(f, text);
    const file = join(f.dir, '.vt', 'vt.db');
    assert.ok((await storeBytes(file)).includes(Buffer.from(text)), 'the text was in the store before');
    assert.ok((await storeBytes(file)).includes(Buffer.from('Priya Nair')));
    const c = await f.engine.erase('p', noteSeq, 'personal data', { actor: 'lead-1' });
    assert.deepEqual(c.erasure.compaction, { vacuumed: true, walTruncated: true, note: null });
    assert.equal(
      (await storeBytes(file)).includes(Buffer.from(text)),
      false,
      'no page or WAL frame keeps it',
    );
    await f.engine.erase('p', artifactSeq, 'a name in a preview', { actor: 'lead-1' });
    assert.equal((await storeBytes(file)).includes(Buffer.from('Priya Nair')), false);
    // Work goes on and the bytes stay gone after the store is closed (and its WAL checkpointed).
    await f.engine.tick('p', 'extra', 'more work', { actor: 'lab-1' });
    await f.store.close();
    assert.equal((await storeBytes(file)).includes(Buffer.from(text)), false);
    assert.equal((await storeBytes(file)).includes(Buffer.from('Priya Nair')), false);
  });

  it('the events guard lets through only an audited erasure', async () => {
    const f = await freshEngine();
    const { noteSeq, artifactSeq } = await project(f, personal());
    const c = await f.engine.erase('p', noteSeq, 'personal data', { actor: 'lead-1' });
    const record = c.events[0]!.seq;
    await f.store.close();
    const db = new Database(join(f.dir, '.vt', 'vt.db'));
    const marker = (by: number) => JSON.stringify({ erased_by_seq: by, residue: { kind: 'note' } });
    const attempts: [string, unknown[]][] = [
      // A marker naming no erasure record, or a record of another event.
      ['update events set payload = ? where seq = ?', [marker(record), artifactSeq]],
      ['update events set payload = ? where seq = ?', [marker(artifactSeq + 1), artifactSeq]],
      // Erasing the erased event again, with its own record.
      ['update events set payload = ? where seq = ?', [marker(record), noteSeq]],
      // A marker plus any other change.
      ["update events set payload = ?, actor = 'mallory' where seq = ?", [marker(record), noteSeq]],
      // Anything but a marker.
      ['update events set payload = ? where seq = ?', ['{"kind":"note","text":"rewritten"}', 2]],
      ["update events set actor = 'mallory' where seq = ?", [2]],
      ['update events set payload = ? where seq = ?', [`${marker(record).slice(0, -1)},"x":1}`, artifactSeq]],
      ['delete from events where seq = ?', [noteSeq]],
    ];
    for (const [q, args] of attempts) assert.throws(() => db.prepare(q).run(...args), /append-only/, q);
    db.close();
    const s = await openStore(join(f.dir, '.vt', 'vt.db'));
    assert.equal((await verifyStore(s.db)).ok, true);
    await s.close();
  });

  it('verify finds a forged, altered or undone erasure', async () => {
    const f = await freshEngine();
    const { noteSeq, artifactSeq } = await project(f, personal());
    const payloadOf = async (seq: number) => (await eventRows(f.store)).find((r) => r.seq === seq)!.payload;
    const original = await payloadOf(noteSeq);
    const artifact = await payloadOf(artifactSeq);
    const c = await f.engine.erase('p', noteSeq, 'personal data', { actor: 'lead-1' });
    const record = c.events[0]!.seq;
    const erased = await payloadOf(noteSeq);
    await f.store.close();
    const file = join(f.dir, '.vt', 'vt.db');
    // An attacker with the file: the triggers dropped, one payload set, the store verified, then restored.
    const attack = async (seq: number, payload: string, restore: string) => {
      const set = (p: string) => {
        const db = new Database(file);
        db.exec('drop trigger if exists events_no_update; drop trigger if exists events_no_delete;');
        db.prepare('update events set payload = ? where seq = ?').run(p, seq);
        db.close();
      };
      set(payload);
      const s = await openStore(file);
      try {
        return await verifyStore(s.db);
      } finally {
        await s.close();
        set(restore);
      }
    };
    // A payload blanked with a marker naming a real erasure record, of another event.
    let v = await attack(artifactSeq, JSON.stringify({ erased_by_seq: record, residue: {} }), artifact);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad!.seq, artifactSeq);
    assert.match(v.firstBad!.reason, new RegExp(`naming #${record}, which records no such erasure`));
    // The residue altered after the erasure.
    v = await attack(noteSeq, erased.replace('"note"', '"risk"'), erased);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad!.seq, noteSeq);
    assert.match(v.firstBad!.reason, /residue of erased event \d+ differs/);
    // The erased text put back (its digest matches): the record says erased, the store does not.
    v = await attack(noteSeq, original, erased);
    assert.equal(v.ok, false);
    assert.equal(v.firstBad!.seq, noteSeq);
    assert.match(v.firstBad!.reason, new RegExp(`recorded as erased by #${record} but holds no such marker`));
    const s = await openStore(file);
    assert.equal((await verifyStore(s.db)).ok, true, 'restored, it verifies again');
    await s.close();
  });
});

describeOnBackends('erasing a payload: the CLI and bundles', () => {
  it('dry run, --yes, refusals with exit codes; verify and an offline bundle name the erasure', async () => {
    const dir = tempDir('vt-erase-');
    const env = { VT_ACTOR: 'lead-1' };
    const vt = (args: string[], extra: Record<string, string> = {}) =>
      runVt(args, { cwd: dir, env: { ...env, ...extra } });
    writeFileSync(join(dir, 'vt.yaml'), readFileSync(MINI, 'utf8'));
    const text = personal();
    assert.equal((await vt(['project', 'create', 'Churn', '--id', 'p'])).code, 0);
    assert.equal((await vt(['context', 'add', 'p', 'note', text])).code, 0);
    const log = JSON.parse((await vt(['audit', 'log', 'p', '--json'])).stdout) as {
      seq: number;
      type: string;
    }[];
    const seq = log.find((e) => e.type === 'context.added')!.seq;
    // What the store holds: its file and WAL, or every row of the PostgreSQL database.
    const held = async () => storeBytes(await folderStore(dir));

    const help = await vt(['audit', 'erase', '--help']);
    assert.match(help.stdout, /Examples:\n {2}vt audit erase churn 42 --reason/);
    const dry = await vt([
      'audit',
      'erase',
      'p',
      String(seq),
      '--reason',
      'GDPR request 17',
      '--dry-run',
      '--json',
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), {
      project: 'p',
      seq,
      type: 'context.added',
      fields: ['text'],
      erased: false,
    });
    const noYes = await vt(['audit', 'erase', 'p', String(seq), '--reason', 'GDPR request 17']);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /not erased: confirm with --yes/);
    const noReason = await vt(['audit', 'erase', 'p', String(seq), '--yes']);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /needs a reason/);
    const missing = await vt(['audit', 'erase', 'p', '99', '--reason', 'x', '--yes']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no event #99/);
    const notNumber = await vt(['audit', 'erase', 'p', '2x', '--reason', 'x', '--yes']);
    assert.equal(notNumber.code, 2);
    assert.ok((await held()).includes(Buffer.from(text)), 'nothing was erased yet');

    // An agent session (VT_SESSION set, as inside an executor) is refused, with exit 4, on the record.
    const agent = await vt(['audit', 'erase', 'p', String(seq), '--reason', 'x', '--yes'], {
      VT_SESSION: 'p-1-triage.s1',
      VT_ACTOR: 'agent:lab',
    });
    assert.equal(agent.code, 4, agent.stderr);
    assert.match(agent.stderr, /agent session cannot erase an event/);
    const refusals = (await vt(['audit', 'log', 'p', '--wide'])).stdout;
    assert.match(refusals, /erase an event refused: an agent session cannot erase an event/);

    const ok = await vt([
      'audit',
      'erase',
      'p',
      String(seq),
      '--reason',
      'GDPR request 17',
      '--yes',
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const out = JSON.parse(ok.stdout);
    assert.equal(out.erased, true);
    if (testBackend.current === 'sqlite') assert.equal(out.compaction.vacuumed, true);
    else assert.match(out.compaction.note, /VACUUM FULL events/, 'says where old row versions stay');
    assert.equal((await held()).includes(Buffer.from(text)), false);
    const twice = await vt(['audit', 'erase', 'p', String(seq), '--reason', 'again', '--yes']);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /already erased/);

    const verify = await vt(['audit', 'verify']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(
      verify.stderr,
      new RegExp(
        `erased: p#${seq} \\(context.added\\) by lead-1 at .* \\(#${out.record}\\): GDPR request 17`,
      ),
    );
    const logAfter = (await vt(['audit', 'log', 'p', '--wide'])).stdout;
    assert.match(logAfter, new RegExp(`erased by #${out.record}`));
    assert.ok(!logAfter.includes(text));

    // An exported bundle carries the marker and verifies offline, naming the erasure (an export
    // carries a signed checkpoint of the Merkle log: the log key first, as vt init would make it).
    // The log's leaves are the chain hashes, which the erasure left as they were.
    assert.equal((await vt(['audit', 'checkpoint', '--init'])).code, 0);
    assert.equal((await vt(['audit', 'export', 'bundle.jsonl'])).code, 0);
    const bundle = readFileSync(join(dir, 'bundle.jsonl'), 'utf8');
    assert.ok(!bundle.includes(text));
    assert.match(bundle, /erased_by_seq/);
    const elsewhere = tempDir();
    const offline = await runVt(['audit', 'verify', '--bundle', join(dir, 'bundle.jsonl'), '--json'], {
      cwd: elsewhere,
    });
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(JSON.parse(offline.stdout).erasures[0].reason, 'GDPR request 17');
    assert.equal(verifyBundle(join(dir, 'bundle.jsonl')).erasures.length, 1);
    rmSync(dir, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  });

  it('a bundle exported before the erasure still verifies: the chain did not change', async () => {
    const f = await freshEngine();
    const { noteSeq } = await project(f, personal());
    const out = join(f.dir, 'before.jsonl');
    const m1 = await exportChainBundle(f.store.db, out, new Date());
    await f.engine.erase('p', noteSeq, 'personal data', { actor: 'lead-1' });
    const v = verifyBundle(out);
    assert.equal(v.ok, true);
    const m2 = await exportChainBundle(f.store.db, join(f.dir, 'after.jsonl'), new Date());
    assert.equal(m2.heads.p!.seq, m1.heads.p!.seq + 1);
    // The old head is still in the new bundle: the erasure appended, it rewrote nothing.
    const lines = readFileSync(join(f.dir, 'after.jsonl'), 'utf8').split('\n').slice(1).filter(Boolean);
    assert.equal(JSON.parse(lines[m1.heads.p!.seq - 1]!).hash, m1.heads.p!.hash);
    await f.store.close();
  });
});

describe('erasing a payload: PostgreSQL guards', () => {
  after(dropTestDatabases);

  it('only the audited erasure passes the trigger; the application role may not erase at all', async () => {
    const url = await freshPgUrl();
    const owner = await openStore(url);
    const dir = tempDir();
    writeFile(dir, 'docs/brief.md', '# Brief\n');
    const engine = new Engine({ store: owner, io: nodeIo, clock: new TestClock() });
    const { miniTrain } = await import('./helpers.ts');
    await engine.createProject(
      { id: 'p', name: 'p', workspace: dir, train: miniTrain() },
      { actor: 'lead-1' },
    );
    const note = await new Tickets(engine).addContext(
      'p',
      { kind: 'note', text: personal() },
      { actor: 'lab-1' },
    );
    const tick = await engine.tick('p', 'asked', 'a note', { actor: 'lab-1' });
    const c = await engine.erase('p', note.events[0]!.seq, 'personal data', { actor: 'lead-1' });
    const record = c.events[0]!.seq;
    assert.equal(c.erasure.compaction.vacuumed, false);
    assert.match(c.erasure.compaction.note ?? '', /VACUUM FULL events/);
    assert.equal((await verifyStore(owner.db)).erasures.length, 1);
    const marker = (by: number) => JSON.stringify({ erased_by_seq: by, residue: {} });
    const seq = tick.events[0]!.seq;
    for (const q of [
      sql`update events set payload = ${marker(record)} where project_id = 'p' and seq = ${seq}`,
      sql`update events set payload = ${marker(seq + 5)} where project_id = 'p' and seq = ${seq}`,
      sql`update events set payload = ${marker(record)} where project_id = 'p' and seq = ${note.events[0]!.seq}`,
      sql`update events set actor = 'mallory' where project_id = 'p' and seq = ${seq}`,
      sql`delete from events where project_id = 'p' and seq = ${seq}`,
    ])
      await assert.rejects(q.execute(owner.db), /append-only/);

    // The application role has no UPDATE on events: an erasure needs the owner.
    const role = `vt_app_erase_${process.pid}`;
    await pgQuery(url, appRoleSql(role));
    const app = await openStore(asRole(url, role));
    const appEngine = new Engine({ store: app, io: nodeIo, clock: new TestClock() });
    await throwsCode(
      appEngine.erase('p', seq, 'as the app role', { actor: 'lead-1' }),
      'NOT_PERMITTED',
      /refused the erasure/,
    );
    assert.equal((await verifyStore(owner.db)).ok, true);
    assert.equal((await eventRows(owner)).length, record, 'the refused erasure appended nothing');
    await app.close();
    await owner.close();
    await pgQuery(url, `drop owned by ${role}`);
    await pgQuery(url, `drop role ${role}`);
  });
});
