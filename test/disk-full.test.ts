import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { autoTrainYaml, MINI, runVt, tempDir } from './helpers.ts';

// A full disk, for real: a small tmpfs mounted for the test (root can mount here). Where mounting
// is not allowed the tests are skipped, saying so.
const mounts: string[] = [];
after(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {}
  }
});

function smallDisk(sizeKb: number): string | null {
  const dir = join(tempDir(), 'disk');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  mounts.push(dir);
  return dir;
}

/** Fill the disk holding `dir` until a write fails with ENOSPC; returns the filler to delete later. */
function fill(dir: string): string {
  const filler = join(dir, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  // The last partial page too.
  const fd2 = openSync(join(dir, 'filler2'), 'w');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(512, 1));
  } catch {
  } finally {
    closeSync(fd2);
  }
  return filler;
}

const eventsIn = async (cwd: string, env: Record<string, string> = {}) => {
  const r = await runVt(['audit', 'verify', '--json'], { cwd, env });
  assert.equal(r.code, 0, `audit verify: ${r.stderr}`);
  return JSON.parse(r.stdout).checked as number;
};

describe('a full disk', () => {
  it('under the store: a clear error with exit 5, no partial event, and the same command works once space is freed', async (t) => {
    const disk = smallDisk(2048);
    if (!disk) {
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    cpSync(MINI, join(disk, 'vt.yaml'));
    const as = ['--as', 'lead-1'];
    assert.equal(
      (await runVt(['project', 'create', 'Churn', '--id', 'churn', ...as], { cwd: disk })).code,
      0,
    );
    const before = await eventsIn(disk);
    const filler = fill(disk);
    let failed = null;
    for (let i = 0; i < 20 && !failed; i++) {
      const r = await runVt(['metric', 'set', 'churn', 'auc', String(0.5 + i / 100), ...as], {
        cwd: disk,
        env: { VT_SQLITE_SYNCHRONOUS: 'FULL' },
      });
      if (r.code !== 0) failed = r;
    }
    assert.ok(failed, 'a write failed on the full disk');
    assert.equal(failed.code, 5, failed.stderr);
    assert.match(failed.stderr, /no space left on the device holding .*vt\.db \(SQLITE_FULL\)/);
    assert.match(failed.stderr, /Free some space/);
    assert.doesNotMatch(failed.stderr, /bug in vt|no transaction is active/);
    const during = await eventsIn(disk);
    rmSync(filler, { force: true });
    rmSync(join(disk, 'filler2'), { force: true });
    const again = await runVt(['metric', 'set', 'churn', 'auc', '0.93', ...as], { cwd: disk });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await eventsIn(disk), during + 1);
    assert.ok(during >= before);
    const check = await runVt(['db', 'check'], { cwd: disk });
    assert.equal(check.code, 0, check.stderr);
  });

  it('under the workspaces: the autopilot stops with exit 5 (no retry storm, nothing blocked) and finishes once space is freed', async (t) => {
    const disk = smallDisk(4096);
    if (!disk) {
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    const store = join(tempDir(), 'vt.db');
    const env = { VT_DATABASE_URL: store };
    writeFileSync(join(disk, 'vt.yaml'), autoTrainYaml(3));
    assert.equal((await runVt(['project', 'create', 'A', '--id', 'a'], { cwd: disk, env })).code, 0);
    assert.equal((await runVt(['issue', 'add', 'work', '--project', 'a'], { cwd: disk, env })).code, 0);
    const filler = fill(disk);
    const args = ['autopilot', '--workspaces', 'folder', '--lease-ms', '500', '--backoff-ms', '0'];
    const r = await runVt(args, { cwd: disk, env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /no space left on the device/);
    assert.doesNotMatch(r.stderr, /bug in vt|Unhandled|ENOSPC: no space left on device, write\n\s+at/);
    const list = JSON.parse((await runVt(['issue', 'list', '--all', '--json'], { cwd: disk, env })).stdout);
    assert.ok(
      list.every((x: { status: string }) => x.status !== 'blocked'),
      'a full disk blocks no ticket',
    );
    rmSync(filler, { force: true });
    rmSync(join(disk, 'filler2'), { force: true });
    // Run again: a ticket whose lease the stopped run held is taken over once the lease expires.
    const done = await runVt(args, { cwd: disk, env });
    assert.equal(done.code, 0, done.stderr);
    const s = JSON.parse((await runVt(['status', 'a', '--json'], { cwd: disk, env })).stdout);
    assert.equal(s.status, 'completed');
    await eventsIn(disk, env);
  });
});
