import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditDir } from '../src/audit/audit-dir.ts';
import {
  type Checkpoint,
  checkAdvance,
  checkpointText,
  openCheckpoint,
  signCheckpoint,
} from '../src/audit/checkpoint.ts';
import { writeCheckpoint } from '../src/audit/checkpoint-writer.ts';
import { createLogKey, loadLogKey, logKeyFile } from '../src/audit/log-key.ts';
import {
  generateNoteKey,
  keyIdOf,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from '../src/audit/note.ts';
import { VtError } from '../src/errors.ts';
import { appendLeaf, consistencyProof, EMPTY_ROOT, emptyRange, hashLeaf, rangeRoot } from '../src/merkle.ts';
import { freshEngine, tempDir } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (p?: string) => {
  const d = tempDir(p);
  dirs.push(d);
  return d;
};

// Published vectors: golang.org/x/mod/sumdb/note note_test.go (BSD licence) and the example of
// https://c2sp.org/signed-note.
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const C2SP_NOTE =
  'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

describe('signed notes (C2SP signed-note, Go sumdb/note vectors)', () => {
  it('signs the published text to the published note, byte for byte', () => {
    const signer = parseSignerKey(PETER_SKEY);
    assert.equal(signer.verifier.vkey, PETER_VKEY);
    assert.equal(signNote(TEXT, signer), `${TEXT}\n${PETER_SIG}`);
    assert.equal(
      keyIdOf('PeterNeumann', 1, Buffer.from(PETER_VKEY.split('+')[2]!, 'base64').subarray(1)),
      0xc74f20a3,
    );
  });

  it('opens published notes: known keys verify, unknown keys are listed and never trusted', () => {
    const peter = parseVerifierKey(PETER_VKEY);
    const enoch = parseVerifierKey(ENOCH_VKEY);
    const both = openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter]);
    assert.ok(both.ok);
    assert.deepEqual(
      both.verified.map((s) => s.name),
      ['PeterNeumann'],
    );
    assert.deepEqual(
      both.unverified.map((s) => s.name),
      ['EnochRoot'],
    );
    assert.ok(openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter, enoch]).ok);
    assert.equal(openNote(`${TEXT}\n${ENOCH_SIG}`, [peter]).ok, false, 'no signature by a known key');
    const c2sp = openNote(C2SP_NOTE, [parseVerifierKey(C2SP_VKEY)]);
    assert.ok(c2sp.ok);
    assert.equal(c2sp.text, 'This is an example message.\n');
  });

  it('refuses mangled keys and notes', () => {
    // Every proper substring and every single-byte change of the verifier key is refused (as Go's test does).
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const changed =
        PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      assert.throws(() => parseVerifierKey(changed), Error, changed);
      assert.throws(() => parseVerifierKey(PETER_VKEY.slice(0, i)));
      assert.throws(() => parseVerifierKey(PETER_VKEY.slice(i + 1)));
    }
    assert.throws(
      () => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'),
      /algorithm/,
    );
    for (let i = 0; i < PETER_SKEY.length; i++)
      assert.throws(() =>
        parseSignerKey(
          PETER_SKEY.slice(0, i) +
            String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1) +
            PETER_SKEY.slice(i + 1),
        ),
      );
    const peter = parseVerifierKey(PETER_VKEY);
    const good = `${TEXT}\n${PETER_SIG}`;
    const cases: [string, string][] = [
      [good.replace('answer', 'Answer'), 'edited text'],
      [good.replace('x08go', 'x08gp'), 'edited signature'],
      [good.replace('— ', '-- '), 'no em dash'],
      [`${TEXT}${PETER_SIG}`, 'no blank line'],
      [good.slice(0, -1), 'no final newline'],
      [good.replace('problem,', 'problem,\u0007'), 'a control character'],
      [
        `${TEXT}\n— Peter Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
        'a space in the name',
      ],
    ];
    for (const [note, why] of cases) assert.equal(openNote(note, [peter]).ok, false, why);
  });

  it('a generated key signs and verifies; its signer and verifier encodings round-trip', () => {
    const { skey, vkey } = generateNoteKey('vt.test/log');
    const signer = parseSignerKey(skey);
    assert.equal(signer.verifier.vkey, vkey);
    assert.ok(openNote(signNote('hello\n', signer), [parseVerifierKey(vkey)]).ok);
    assert.throws(() => generateNoteKey('has space'));
    assert.throws(() => generateNoteKey('has+plus'));
  });
});

function treeOf(n: number) {
  const range = emptyRange();
  const nodes = new Map<string, Buffer>();
  for (let i = 0; i < n; i++)
    for (const x of appendLeaf(range, hashLeaf(`event ${i}`))) nodes.set(`${x.level}/${x.index}`, x.hash);
  return {
    checkpoint: { origin: 'vt.test/log', size: n, root: rangeRoot(range) } as Checkpoint,
    read: (l: number, i: number) => nodes.get(`${l}/${i}`)!,
  };
}

describe('checkpoints (C2SP tlog-checkpoint)', () => {
  const { skey } = generateNoteKey('vt.test/log');
  const signer = parseSignerKey(skey);
  const other = parseSignerKey(generateNoteKey('vt.test/log').skey);

  it('a checkpoint reads origin, size and base64 root, and opens with the log key', () => {
    const t = treeOf(5);
    const note = signCheckpoint(t.checkpoint, signer);
    assert.ok(note.startsWith(`vt.test/log\n5\n${t.checkpoint.root.toString('base64')}\n\n— vt.test/log `));
    const opened = openCheckpoint(note, signer.verifier, 'vt.test/log');
    assert.ok(opened.ok);
    assert.equal(opened.checkpoint.size, 5);
    assert.deepEqual(opened.checkpoint.root, t.checkpoint.root);
  });

  it('is rejected when signed by a wrong key, or with an edited size or root, or of another log', () => {
    const t = treeOf(9);
    const note = signCheckpoint(t.checkpoint, signer);
    const wrongKey = openCheckpoint(signCheckpoint(t.checkpoint, other), signer.verifier);
    assert.equal(wrongKey.ok, false);
    assert.match(wrongKey.ok ? '' : wrongKey.reason, /no signature by a known key|invalid signature/);
    const editedSize = openCheckpoint(note.replace('\n9\n', '\n10\n'), signer.verifier);
    assert.equal(editedSize.ok, false);
    assert.match(editedSize.ok ? '' : editedSize.reason, /invalid signature/);
    const root = t.checkpoint.root.toString('base64');
    const flipped = (root[0] === 'A' ? 'B' : 'A') + root.slice(1);
    assert.equal(openCheckpoint(note.replace(root, flipped), signer.verifier).ok, false, 'edited root');
    assert.equal(openCheckpoint(note, signer.verifier, 'vt.test/other').ok, false, 'another log');
    // Not a checkpoint at all, though correctly signed.
    assert.equal(openCheckpoint(signNote('hello\n', signer), signer.verifier).ok, false);
    assert.equal(
      openCheckpoint(
        signNote(`vt.test/log\n0\n${treeOf(1).checkpoint.root.toString('base64')}\n`, signer),
        signer.verifier,
      ).ok,
      false,
      'an empty tree with a root',
    );
    assert.equal(
      checkpointText({ origin: 'o', size: 0, root: EMPTY_ROOT }),
      `o\n0\n${EMPTY_ROOT.toString('base64')}\n`,
    );
  });

  it('a newer checkpoint must extend the one seen: an older size, a fork or a rewrite is rejected', async () => {
    const small = treeOf(700);
    const big = treeOf(1000);
    const proof = await consistencyProof(big.read, 700, 1000);
    assert.ok(checkAdvance(small.checkpoint, big.checkpoint, proof).ok);
    const older = checkAdvance(big.checkpoint, small.checkpoint, proof);
    assert.equal(older.ok, false);
    assert.match(older.ok ? '' : older.reason, /older than size 1000, already seen/);
    const forked = { ...big.checkpoint, root: treeOf(999).checkpoint.root };
    assert.match(String((checkAdvance(big.checkpoint, forked, []) as { reason?: string }).reason), /forked/);
    const rewritten = { ...big.checkpoint, root: hashLeaf('another tree') };
    assert.equal(checkAdvance(small.checkpoint, rewritten, proof).ok, false);
  });
});

describe('the log key and the audit folder', () => {
  it('the key lives under XDG_CONFIG_HOME or VT_LOG_KEY_FILE, mode 0600, and is refused when others can read it', () => {
    assert.equal(logKeyFile({ XDG_CONFIG_HOME: '/x/cfg' }, '/home/a'), '/x/cfg/vt/keys/log.ed25519');
    assert.equal(logKeyFile({}, '/home/a'), '/home/a/.config/vt/keys/log.ed25519');
    assert.equal(
      logKeyFile({ XDG_CONFIG_HOME: 'relative' }, '/home/a'),
      '/home/a/.config/vt/keys/log.ed25519',
    );
    assert.equal(logKeyFile({ VT_LOG_KEY_FILE: '/k/log.key', XDG_CONFIG_HOME: '/x' }, '/h'), '/k/log.key');
    const d = tmp('vt-key-');
    const file = join(d, 'keys', 'log.ed25519');
    const signer = createLogKey(file, { name: 'vt.test/log' });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(d, 'keys')).mode & 0o777, 0o700);
    assert.equal(loadLogKey(file)?.verifier.vkey, signer.verifier.vkey);
    assert.throws(() => createLogKey(file), /already exists/, 'never replaced');
    chmodSync(file, 0o644);
    assert.throws(
      () => loadLogKey(file),
      (e: unknown) => e instanceof VtError && e.code === 'NOT_PERMITTED',
    );
    chmodSync(file, 0o600);
    writeFileSync(file, 'not a key\n', { mode: 0o600 });
    assert.throws(() => loadLogKey(file), /not a log signing key/);
    assert.equal(loadLogKey(join(d, 'absent')), null);
  });

  it('refuses a key inside the workspace, where an agent could read it', () => {
    const ws = tmp('vt-ws-');
    assert.throws(
      () => createLogKey(join(ws, '.secrets', 'log.ed25519'), { workspace: ws }),
      (e: unknown) => e instanceof VtError && e.code === 'NOT_PERMITTED',
    );
    const outside = join(tmp('vt-key-'), 'log.ed25519');
    createLogKey(outside);
    mkdirSync(join(ws, 'k'));
    assert.ok(loadLogKey(outside, { workspace: ws }));
  });
});

// The tree head comes from the store, SQLite or PostgreSQL; the folder and the key are the same on both.
describeOnBackends('the log key and the audit folder: checkpoints of a store', () => {
  it('writes checkpoints as files named by size, publishes log.pub, and refuses a second key or a rolled-back store', async () => {
    const f = await freshEngine();
    dirs.push(f.dir);
    const key = createLogKey(join(tmp('vt-key-'), 'log.ed25519'), { name: 'vt.test/log' });
    const dir = new AuditDir(join(f.dir, 'audit'));
    const w0 = await writeCheckpoint(f.store, dir, key);
    assert.equal(w0.checkpoint.size, 0);
    assert.equal(readFileSync(dir.pubFile, 'utf8'), `${key.verifier.vkey}\n`);
    await f.engine.createProject({ name: 'Alpha', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    await f.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    const w1 = await writeCheckpoint(f.store, dir, key);
    assert.equal(w1.checkpoint.size, 2);
    assert.equal(w1.file, join(f.dir, 'audit', 'checkpoints', '000000000002.ckpt'));
    const again = await writeCheckpoint(f.store, dir, key);
    assert.equal(again.written, false, 'the same tree head gives the same bytes');
    // Another key may not sign this log.
    const intruder = createLogKey(join(tmp('vt-key-'), 'log.ed25519'), { name: 'vt.test/log' });
    await assert.rejects(writeCheckpoint(f.store, dir, intruder), /not the key in/);
    // A checkpoint of a larger size than the store holds (the store was rolled back): refused.
    const ahead = { ...w1.checkpoint, size: 5, root: hashLeaf('x') };
    await dir.write(5, signCheckpoint(ahead, key));
    await assert.rejects(writeCheckpoint(f.store, dir, key), /older than size 5, already seen/);
    await f.store.close();
  });

  it('a writer that skips the listing after its own checkpoint still sees one another hand added since', async () => {
    const f = await freshEngine();
    dirs.push(f.dir);
    const key = createLogKey(join(tmp('vt-key-'), 'log.ed25519'), { name: 'vt.test/log' });
    const dir = new AuditDir(join(f.dir, 'audit'));
    await f.engine.createProject({ name: 'Alpha', workspace: f.dir, train: f.train }, { actor: 'lead-1' });
    const w1 = await writeCheckpoint(f.store, dir, key);
    await f.engine.tick('alpha', 'asked', null, { actor: 'lab-1' });
    // Nobody else wrote: the next one follows from what this writer knows.
    const w2 = await writeCheckpoint(f.store, dir, key, { known: w1.known });
    assert.equal(w2.checkpoint.size, 2);
    assert.equal(w2.known.stamp, dir.stamp());
    // Past the file system's timestamp tick, a checkpoint of a bigger size signed by another key
    // lands in the folder (a file put there by hand, or another process with the wrong key).
    await new Promise((r) => setTimeout(r, 50));
    const other = createLogKey(join(tmp('vt-key-'), 'log.ed25519'), { name: 'vt.test/log' });
    await dir.write(9, signCheckpoint({ ...w2.checkpoint, size: 9, root: hashLeaf('x') }, other));
    await f.engine.tick('alpha', 'sized', null, { actor: 'lab-1' });
    await assert.rejects(
      writeCheckpoint(f.store, dir, key, { known: w2.known }),
      /000000000009.ckpt does not verify with the log key/,
    );
    // And log.pub replaced by another key is seen as well.
    rmSync(join(dir.checkpointsDir, '000000000009.ckpt'));
    const w3 = await writeCheckpoint(f.store, dir, key);
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(`${dir.pubFile}.new`, `${other.verifier.vkey}\n`);
    renameSync(`${dir.pubFile}.new`, dir.pubFile);
    await assert.rejects(writeCheckpoint(f.store, dir, key, { known: w3.known }), /not the key in/);
    await f.store.close();
  });
});
