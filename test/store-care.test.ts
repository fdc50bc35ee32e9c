import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { autoTrainYaml, MINI, runVt, spawnCollect, tempDir, VT_BIN } from './helpers.ts';

/** A store with one project and a few events. */
async function smallStore(): Promise<string> {
  const dir = tempDir();
  cpSync(MINI, join(dir, 'vt.yaml'));
  const ok = async (args: string[]) => {
    const r = await runVt([...args, '--as', 'lead-1'], { cwd: dir });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  };
  await ok(['project', 'create', 'Churn', '--id', 'churn']);
  await ok(['tick', 'churn', 'asked']);
  await ok(['metric', 'set', 'churn', 'auc', '0.7']);
  return dir;
}

const db = (dir: string) => join(dir, '.vt', 'vt.db');

describe('a damaged store is named, with the way back', () => {
  it('an emptied store is "empty", not a brand-new store', async () => {
    const dir = await smallStore();
    truncateSync(db(dir), 0);
    for (const args of [
      ['audit', 'verify'],
      ['status', 'churn'],
      ['tick', 'churn', 'sized'],
    ]) {
      const r = await runVt(args, { cwd: dir });
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /is empty \(0 bytes\)/);
      assert.match(r.stderr, /vt db restore .*vt db import/);
      assert.doesNotMatch(r.stderr, /This is a bug/);
    }
    assert.equal(statSync(db(dir)).size, 0, 'nothing was written into the empty file');
  });

  it('a half-truncated store is "truncated"; garbage is "not a SQLite database"; a damaged page is "corrupt"', async () => {
    const dir = await smallStore();
    const size = statSync(db(dir)).size;
    const full = readFileSync(db(dir));
    truncateSync(db(dir), Math.floor(size / 2));
    let r = await runVt(['audit', 'verify'], { cwd: dir });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /is truncated: its header records \d+ bytes but the file holds \d+/);
    assert.match(r.stderr, /vt db restore/);
    writeFileSync(db(dir), Buffer.alloc(8192, 7));
    r = await runVt(['project', 'list'], { cwd: dir });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /is not a SQLite database/);
    // The same length, one page in the middle overwritten: SQLite itself finds it.
    const damaged = Buffer.from(full);
    damaged.fill(0xab, 4096 * 3, 4096 * 5);
    writeFileSync(db(dir), damaged);
    r = await runVt(['db', 'check'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /✗ integrity/);
    assert.match(r.stderr, /vt db restore/);
  });

  it('a read-only store can be read; a write to it is "not permitted" (exit 4); init in a read-only folder is too', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run the CLI as another user');
      return;
    }
    const dir = await smallStore();
    chmodSync(dir, 0o755);
    chmodSync(join(dir, '.vt'), 0o555);
    chmodSync(db(dir), 0o444);
    const asNobody = (args: string[], cwd = dir) => runVtAs(65534, args, cwd);
    let r = await asNobody(['status', 'churn', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).id, 'churn');
    r = await asNobody(['audit', 'verify']);
    assert.equal(r.code, 0, r.stderr);
    r = await asNobody(['metric', 'list', 'churn']);
    assert.equal(r.code, 0, r.stderr);
    r = await asNobody(['tick', 'churn', 'sized', '--as', 'lead-1']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /read-only/);
    assert.doesNotMatch(r.stderr, /bug in vt/);
    const ro = tempDir();
    chmodSync(ro, 0o555);
    // A home of its own, outside the folder: init makes the person's signing key there first.
    const home = tempDir();
    chownSync(home, 65534, 65534);
    r = await runVtAs(65534, ['init'], ro, home);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /cannot write .*vt\.yaml: permission denied/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });
});

function runVtAs(uid: number, args: string[], cwd: string, home = cwd) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [VT_BIN, ...args], {
      cwd,
      uid,
      gid: uid,
      env: { ...process.env, NO_COLOR: '1', HOME: home, NODE_COMPILE_CACHE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('backup, restore and import', () => {
  it('backups taken while an autopilot writes all verify; restoring one and importing an export both verify', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'vt.yaml'), autoTrainYaml(6));
    for (const p of ['a', 'b']) {
      assert.equal((await runVt(['project', 'create', p.toUpperCase(), '--id', p], { cwd: dir })).code, 0);
      assert.equal((await runVt(['issue', 'add', `work ${p}`, '--project', p], { cwd: dir })).code, 0);
    }
    const pilot = spawnCollect([VT_BIN, 'autopilot', '--workspaces', 'folder', '--json'], {
      cwd: dir,
      env: { NO_COLOR: '1', VT_SQLITE_SYNCHRONOUS: 'NORMAL', VT_TEST_SLEEP_MS: '150' },
    });
    // Wait until the autopilot has claimed work, then back up while it runs.
    await pilot.waitFor((out) => out.includes('"claimed"'), 60_000);
    const backups: string[] = [];
    for (let i = 0; i < 4; i++) {
      const file = join(dir, `backup-${i}.db`);
      const r = await runVt(['db', 'backup', file, '--json'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.ok, true);
      backups.push(file);
    }
    const end = await pilot.done;
    assert.equal(end.code, 0, pilot.err());
    assert.ok(pilot.out().includes('"finished"'), 'the autopilot worked while backups were taken');
    for (const b of backups) {
      const v = await runVt(['--db', b, 'audit', 'verify', '--json'], { cwd: dir });
      assert.equal(v.code, 0, v.stderr);
      const c = await runVt(['--db', b, 'db', 'check'], { cwd: dir });
      assert.equal(c.code, 0, c.stderr);
    }
    const finalEvents = JSON.parse((await runVt(['audit', 'verify', '--json'], { cwd: dir })).stdout).checked;

    // Restore: refused without --yes, the old store kept beside, the backup in place.
    const first = backups[0]!;
    const firstEvents = JSON.parse(
      (await runVt(['--db', first, 'audit', 'verify', '--json'], { cwd: dir })).stdout,
    ).checked;
    let r = await runVt(['db', 'restore', first], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--yes/);
    r = await runVt(['db', 'restore', first, '--yes'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const kept = /kept as (\S+)/.exec(r.stderr)?.[1];
    assert.ok(kept && existsSync(kept), 'the replaced store was kept');
    r = await runVt(['audit', 'verify', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).checked, firstEvents);
    r = await runVt(['--db', kept!, 'audit', 'verify', '--json'], { cwd: dir });
    assert.equal(JSON.parse(r.stdout).checked, finalEvents, 'the kept store still holds everything');

    // Import an export of the kept store into a new file: same events, projections rebuilt, verifies.
    // An export carries a signed checkpoint: make the log key (vt init would have).
    r = await runVt(['--db', kept!, 'audit', 'checkpoint', '--init'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    r = await runVt(['--db', kept!, 'audit', 'export', join(dir, 'audit.jsonl')], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const imported = join(dir, 'imported.db');
    r = await runVt(['--db', imported, 'db', 'import', join(dir, 'audit.jsonl')], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    r = await runVt(['--db', imported, 'audit', 'verify', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).checked, finalEvents);
    assert.equal(
      JSON.parse(r.stdout).log.checkpoint.size,
      finalEvents,
      "the imported store is the kept store's log: the checkpoint signed for it verifies",
    );
    r = await runVt(['--db', imported, 'db', 'check'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const a = await runVt(['--db', imported, 'status', 'a', '--json'], { cwd: dir });
    const b = await runVt(['--db', kept!, 'status', 'a', '--json'], { cwd: dir });
    assert.deepEqual(
      JSON.parse(a.stdout),
      JSON.parse(b.stdout),
      'the imported store answers like the original',
    );
    // A store that holds data is never replaced by an import.
    r = await runVt(['--db', imported, 'db', 'import', join(dir, 'audit.jsonl')], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already holds a store/);
    // A tampered bundle is refused.
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n');
    lines[3] = lines[3]!.replace('"actor":"', '"actor":"x');
    writeFileSync(join(dir, 'bad.jsonl'), lines.join('\n'));
    r = await runVt(['--db', join(dir, 'other.db'), 'db', 'import', join(dir, 'bad.jsonl')], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(existsSync(join(dir, 'other.db')), false, 'nothing half-written');
  });

  it('the Merkle log through restore and import: a restored backup reads truncated against later checkpoints, a one-project import is a new log', async () => {
    const dir = await smallStore();
    const vt = (args: string[]) => runVt([...args, '--as', 'lead-1'], { cwd: dir });
    const ok = async (args: string[]) => {
      const r = await vt(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return r;
    };
    await ok(['audit', 'checkpoint', '--init']);
    await ok(['db', 'backup', 'b.db']);
    await ok(['metric', 'set', 'churn', 'auc', '0.8']);
    await ok(['audit', 'checkpoint']);
    await ok(['db', 'restore', 'b.db', '--yes']);
    // The event after the backup is gone, and a checkpoint signed it: verify says so.
    let r = await vt(['audit', 'verify', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).findings.map((f: { kind: string }) => f.kind),
      ['truncated'],
    );
    // A different fourth event is not signed over the roll-back...
    await ok(['metric', 'set', 'churn', 'auc', '0.9']);
    r = await vt(['audit', 'checkpoint']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /refusing to sign the log at size 4/);
    // ... until the later checkpoint is moved out of the folder (git keeps it on record).
    renameSync(join(dir, 'audit', 'checkpoints', '000000000004.ckpt'), join(dir, 'rolled-back.ckpt'));
    await ok(['audit', 'checkpoint']);
    await ok(['audit', 'verify']);
    // A one-project export imported elsewhere is a sound store, but a log of its own.
    await ok(['project', 'create', 'Other', '--id', 'other']);
    await ok(['audit', 'export', 'churn.vtb', '--project', 'churn']);
    await ok(['--db', 'one.db', 'db', 'import', 'churn.vtb']);
    await ok(['--db', 'one.db', 'db', 'check']);
    r = await vt(['--db', 'one.db', 'audit', 'verify', '--json']);
    assert.equal(r.code, 1);
    assert.match(JSON.parse(r.stdout).findings[0].message, /the store was replaced/);
  });

  it('an emptied store comes back from a backup with vt db restore', async () => {
    const dir = await smallStore();
    assert.equal((await runVt(['db', 'backup', 'b.db'], { cwd: dir })).code, 0);
    truncateSync(db(dir), 0);
    const r = await runVt(['db', 'restore', 'b.db', '--yes'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const s = await runVt(['metric', 'list', 'churn', '--json'], { cwd: dir });
    assert.equal(JSON.parse(s.stdout).auc.value, 0.7);
  });
});
