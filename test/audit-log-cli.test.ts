import assert from 'node:assert/strict';
import { copyFileSync, cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { openStore } from '../src/store/store.ts';
import { folderStore, MINI, ROOT, runVt, tempDir, writeFile } from './helpers.ts';
import { describeOnBackends, pgQuery, pgServer } from './pg.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (p?: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};

/** A workspace with its own config folder (so its own log key), worked through the CLI. */
function workspace() {
  const ws = tmp('vt-ws-');
  const config = tmp('vt-cfg-');
  cpSync(MINI, join(ws, 'vt.yaml'));
  const env = { XDG_CONFIG_HOME: config, VT_ACTOR: 'lead-1' };
  const vt = (args: string[], extra: Record<string, string> = {}) =>
    runVt(args, { cwd: ws, env: { ...env, ...extra } });
  return { ws, config, env, vt, ckpts: () => readdirSync(join(ws, 'audit', 'checkpoints')).sort() };
}

/** How many events the workspace's store holds. */
async function eventCount(ws: string): Promise<number> {
  const store = await openStore(await folderStore(ws));
  try {
    const r = await store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll().as('c'))
      .executeTakeFirstOrThrow();
    return Number(r.c);
  } finally {
    await store.close();
  }
}

/**
 * A copy of the workspace's store as an operator would keep one (the SQLite file, or a copy of the
 * PostgreSQL database); the function it returns puts the store back to that copy.
 */
async function keepCopy(ws: string): Promise<() => Promise<void>> {
  const target = await folderStore(ws);
  if (!target.startsWith('postgres')) {
    const backup = join(tmp('vt-backup-'), 'vt.db');
    copyFileSync(target, backup);
    return async () => {
      for (const f of ['vt.db-wal', 'vt.db-shm']) rmSync(join(ws, '.vt', f), { force: true });
      copyFileSync(backup, target);
    };
  }
  const admin = await pgServer();
  const name = new URL(target).pathname.slice(1);
  await pgQuery(admin, `create database ${name}_kept template ${name}`);
  return async () => {
    await pgQuery(admin, `drop database ${name} with (force)`);
    await pgQuery(admin, `create database ${name} template ${name}_kept`);
    await pgQuery(admin, `drop database ${name}_kept`);
  };
}

async function ok(p: Promise<{ code: number | null; stdout: string; stderr: string }>) {
  const r = await p;
  assert.equal(r.code, 0, r.stderr);
  return r;
}

describeOnBackends('vt audit checkpoint|prove|consistency|witness and bundles, through the CLI', () => {
  let w: ReturnType<typeof workspace>;
  const elsewhere = () => tmp('vt-reviewer-');

  before(async () => {
    w = workspace();
    await ok(w.vt(['project', 'create', 'Alpha']));
    // No key yet: checkpoint says how to make one.
    const none = await w.vt(['audit', 'checkpoint']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no log key at .*log\.ed25519/);
    assert.match(none.stderr, /vt audit checkpoint --init/);
    const made = await ok(w.vt(['audit', 'checkpoint', '--init', '--name', 'example.org/alpha-log']));
    assert.equal(made.stdout.trim(), join(w.ws, 'audit', 'checkpoints', '000000000001.ckpt'));
    assert.match(made.stderr, /made the log key/);
    const key = join(w.config, 'vt', 'keys', 'log.ed25519');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(
      readFileSync(join(w.ws, 'audit', 'log.pub'), 'utf8'),
      /^example\.org\/alpha-log\+[0-9a-f]{8}\+/,
    );
    assert.doesNotMatch(
      readFileSync(join(w.ws, 'audit', 'log.pub'), 'utf8') + readdirSync(join(w.ws, 'audit')).join(),
      /PRIVATE/,
      'the private key never lands in the workspace',
    );
  });

  it('a gate pass and an approval each write a checkpoint after their commit', async () => {
    for (const item of ['asked', 'sized']) await ok(w.vt(['tick', 'alpha', item], { VT_ACTOR: 'lab-1' }));
    writeFile(w.ws, 'docs/brief.md', '# Alpha\n');
    await ok(w.vt(['artifact', 'add', 'alpha', 'brief'], { VT_ACTOR: 'lab-1' }));
    const before = w.ckpts();
    await ok(w.vt(['approve', 'alpha'], { VT_ACTOR: 'lead-2' }));
    const afterApproval = w.ckpts();
    assert.equal(afterApproval.length, before.length + 1, 'the approval wrote a checkpoint');
    // The checkpoint the approval wrote is not changed evidence: snapshots leave audit/ out.
    await ok(w.vt(['advance', 'alpha']));
    const afterPass = w.ckpts();
    assert.equal(afterPass.length, afterApproval.length + 1, 'the gate pass wrote a checkpoint');
    const n = await eventCount(w.ws);
    assert.equal(afterPass.at(-1), `${String(n).padStart(12, '0')}.ckpt`, 'the latest covers every event');
    const v = await ok(w.vt(['audit', 'verify', '--json']));
    const r = JSON.parse(v.stdout);
    assert.equal(r.ok, true);
    assert.equal(r.log.checkpoint.size, n);
    assert.equal(r.log.checkpoints, afterPass.length);
    assert.equal(r.log.uncovered, 0);
  });

  it('vt audit prove writes a proof a reviewer verifies with the public key alone; a tampered one fails', async () => {
    const r = await ok(w.vt(['audit', 'prove', 'alpha', '3']));
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.format, 'vt-inclusion-proof');
    assert.equal(doc.event.project_id, 'alpha');
    assert.equal(doc.event.seq, 3);
    const rev = elsewhere();
    copyFileSync(join(w.ws, 'audit', 'log.pub'), join(rev, 'log.pub'));
    writeFileSync(join(rev, 'proof.json'), r.stdout);
    const good = await runVt(['audit', 'verify', '--proof', 'proof.json', '--key', 'log.pub'], { cwd: rev });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stderr, /alpha#3 .* is leaf 2 of/);
    writeFileSync(join(rev, 'bad.json'), JSON.stringify({ ...doc, event: { ...doc.event, seq: 4 } }));
    const bad = await runVt(['audit', 'verify', '--proof', 'bad.json', '--key', 'log.pub'], { cwd: rev });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not in the signed log/);
    const noKey = await runVt(['audit', 'verify', '--proof', 'proof.json'], { cwd: rev });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--key/);
    const missing = await w.vt(['audit', 'prove', 'alpha', '999']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no event alpha#999/);
    assert.equal((await w.vt(['audit', 'prove', 'alpha', 'x'])).code, 2);
  });

  it('vt audit consistency proves a later size extends an earlier one, with the signed roots', async () => {
    const r = await ok(w.vt(['audit', 'consistency', '1']));
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.size1, 1);
    assert.ok(doc.checkpoint1, 'size 1 was checkpointed');
    assert.ok(doc.checkpoint2, 'the latest checkpoint is the default second size');
    const rev = elsewhere();
    writeFileSync(join(rev, 'c.json'), r.stdout);
    const v = await runVt(['audit', 'verify', '--proof', 'c.json', '--key', join(w.ws, 'audit', 'log.pub')], {
      cwd: rev,
    });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /2 of 2 roots signed/);
    assert.equal((await w.vt(['audit', 'consistency', '5', '2'])).code, 2);
    assert.equal((await w.vt(['audit', 'consistency', '1', '100000'])).code, 2);
  });

  it('export bundles carry the checkpoint, head proofs and consistency from the previous export', async () => {
    await ok(w.vt(['audit', 'export', 'one.vtb']));
    await ok(w.vt(['metric', 'set', 'alpha', 'auc', '0.91'], { VT_ACTOR: 'lab-1' }));
    await ok(w.vt(['project', 'create', 'Beta']));
    const two = await ok(w.vt(['audit', 'export', 'two.vtb', '--json']));
    const m = JSON.parse(two.stdout);
    assert.equal(m.version, 2);
    assert.deepEqual(Object.keys(m.log.proofs).sort(), ['alpha', 'beta']);
    assert.ok(m.log.previous, 'consistency from the previous export');
    const rev = elsewhere();
    for (const f of ['one.vtb', 'two.vtb']) copyFileSync(join(w.ws, f), join(rev, f));
    copyFileSync(join(w.ws, 'audit', 'log.pub'), join(rev, 'log.pub'));
    const v = await runVt(['audit', 'verify', '--bundle', 'two.vtb', '--key', 'log.pub'], { cwd: rev });
    assert.equal(v.code, 0, v.stderr);
    assert.match(
      v.stderr,
      /signed by the key; 2 head proofs verify; consistent with the previous export at size/,
    );
    // Without a key it still checks the proofs, and says the signature was not checked.
    const unsigned = await runVt(['audit', 'verify', '--bundle', 'two.vtb'], { cwd: rev });
    assert.equal(unsigned.code, 0, unsigned.stderr);
    assert.match(unsigned.stderr, /signature was not checked/);
    // Another key: refused.
    const other = workspace();
    await ok(other.vt(['audit', 'checkpoint', '--init']));
    const wrong = await runVt(
      ['audit', 'verify', '--bundle', 'two.vtb', '--key', join(other.ws, 'audit', 'log.pub')],
      {
        cwd: rev,
      },
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /does not verify with/);
    // An event line changed and its chain recomputed is not what the log signed.
    const lines = readFileSync(join(rev, 'two.vtb'), 'utf8').split('\n');
    const manifest = JSON.parse(lines[0]!);
    manifest.log.checkpoint = manifest.log.checkpoint.replace(
      /\n(\d+)\n/,
      (_: string, n: string) => `\n${Number(n) + 1}\n`,
    );
    writeFileSync(join(rev, 'edited.vtb'), [JSON.stringify(manifest), ...lines.slice(1)].join('\n'));
    const edited = await runVt(['audit', 'verify', '--bundle', 'edited.vtb', '--key', 'log.pub'], {
      cwd: rev,
    });
    assert.equal(edited.code, 1, 'an edited checkpoint size does not verify');
    // A project's bundle proves its head in the whole log.
    await ok(w.vt(['audit', 'export', 'beta.vtb', '--project', 'beta']));
    copyFileSync(join(w.ws, 'beta.vtb'), join(rev, 'beta.vtb'));
    const beta = await runVt(['audit', 'verify', '--bundle', 'beta.vtb', '--key', 'log.pub'], { cwd: rev });
    assert.equal(beta.code, 0, beta.stderr);
    assert.match(beta.stderr, /1 head proof verifies/);
  });

  it('a version 1 bundle still verifies', async () => {
    const r = await runVt(
      ['audit', 'verify', '--bundle', join(ROOT, 'test', 'fixtures', 'bundle-v1.jsonl')],
      {
        cwd: elsewhere(),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /8 events in 2 chains verify/);
    assert.match(r.stderr, /version 1 bundle/);
  });

  it('vt audit witness: a kept checkpoint is consistent; another key, another log, or a log behind it is reported', async () => {
    const first = join(w.ws, 'audit', 'checkpoints', w.ckpts()[0]!);
    const kept = join(elsewhere(), 'kept.ckpt');
    copyFileSync(first, kept);
    const good = await ok(w.vt(['audit', 'witness', kept, '--json']));
    assert.equal(JSON.parse(good.stdout).verdict, 'consistent');
    const other = workspace();
    await ok(other.vt(['project', 'create', 'Gamma']));
    const otherCp = (await ok(other.vt(['audit', 'checkpoint', '--init']))).stdout.trim();
    const wrongKey = await w.vt(['audit', 'witness', otherCp]);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /wrong-key: not signed by this log's key/);
    // The same key signing another store's log: another log.
    const sameKey = workspace();
    cpSync(join(w.config, 'vt'), join(sameKey.config, 'vt'), { recursive: true });
    await ok(sameKey.vt(['project', 'create', 'Delta']));
    const foreign = (await ok(sameKey.vt(['audit', 'checkpoint']))).stdout.trim();
    const otherLog = await w.vt(['audit', 'witness', foreign]);
    assert.equal(otherLog.code, 1);
    assert.match(otherLog.stderr, /other-log/);
    const notACheckpoint = await w.vt(['audit', 'witness', join(w.ws, 'vt.yaml')]);
    assert.equal(notACheckpoint.code, 1);
  });

  it('a store rolled back behind a checkpoint someone kept: witness and verify say so, and no checkpoint is signed over it', async () => {
    const x = workspace();
    await ok(x.vt(['project', 'create', 'Alpha']));
    await ok(x.vt(['audit', 'checkpoint', '--init']));
    const rollBack = await keepCopy(x.ws);
    for (const item of ['asked', 'sized']) await ok(x.vt(['tick', 'alpha', item], { VT_ACTOR: 'lab-1' }));
    const latest = (await ok(x.vt(['audit', 'checkpoint']))).stdout.trim();
    const kept = join(tmp('vt-kept-'), 'latest.ckpt');
    copyFileSync(latest, kept);
    // Roll the store back to the backup (what an operator hiding the two ticks would do).
    await rollBack();
    const wit = await x.vt(['audit', 'witness', kept]);
    assert.equal(wit.code, 1);
    assert.match(wit.stderr, /ahead: the log holds 1 events but signed a checkpoint at 3/);
    const ver = await x.vt(['audit', 'verify']);
    assert.equal(ver.code, 1);
    assert.match(ver.stderr, /truncated: the log holds 1 events but .* was signed at 3/);
    const sign = await x.vt(['audit', 'checkpoint']);
    assert.equal(sign.code, 1);
    assert.match(
      sign.stderr,
      /refusing to sign the log at size 1: size 1 is older than size 3, already seen/,
    );
  });

  it('every new command has help with an example', async () => {
    for (const cmd of ['checkpoint', 'prove', 'consistency', 'witness', 'export', 'verify']) {
      const r = await runVt(['audit', cmd, '--help'], { cwd: elsewhere() });
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Examples?:\n {2}vt audit /, cmd);
    }
  });
});
