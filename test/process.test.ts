// Effects die with their process group: a timeout, an abort or the leader's exit ends everything the
// command started, and runProcess returns only once it is gone.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { childEnv, groupMembers, runProcess } from '../src/io/process.ts';
import { tempDir } from './helpers.ts';

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

const pidsIn = (text: string) => [...text.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));

describe('process groups', () => {
  it('a timeout kills the grandchildren too (bash -c "sleep 20 & sleep 20", 500 ms)', async () => {
    // On a busy machine bash may not even have forked within 500 ms: repeat until a run shows the
    // background sleep's pid, then check that it died with the group.
    for (let attempt = 1; ; attempt++) {
      let pgid = 0;
      const end = await runProcess({
        argv: ['bash', '-c', 'sleep 20 & echo pid=$!; sleep 20'],
        cwd: tempDir(),
        env: childEnv({}),
        timeoutMs: 500,
        onStart: (g) => {
          pgid = g;
        },
      });
      assert.equal(end.timedOut, true);
      assert.equal(end.survivors, 0);
      assert.equal(groupMembers(pgid), 0, 'nothing is left in the group');
      const [grandchild] = pidsIn(end.tail);
      if (grandchild === undefined && attempt < 20) continue;
      assert.ok(grandchild, `the background sleep printed its pid in one of ${attempt} runs`);
      assert.equal(alive(grandchild), false, 'the background sleep died with the group');
      return;
    }
  });

  it("the leader's exit ends what it left running in the background, and returns without waiting for it", async () => {
    const end = await runProcess({
      argv: ['bash', '-c', 'sleep 30 & echo pid=$!; exit 0'],
      cwd: tempDir(),
      env: childEnv({}),
      timeoutMs: 120_000,
    });
    assert.equal(end.timedOut, false);
    assert.equal(end.exitCode, 0);
    const [bg] = pidsIn(end.tail);
    assert.ok(bg);
    assert.equal(alive(bg), false, 'the background job did not outlive its leader');
  });

  it('an abort ends the group; a process that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const stop = new AbortController();
    const run = runProcess({
      argv: ['bash', '-c', "trap '' TERM; (trap '' TERM; sleep 60) & echo pid=$!; echo ready; wait"],
      cwd: tempDir(),
      env: childEnv({}),
      timeoutMs: 120_000,
      signal: stop.signal,
      onOutput: (text) => {
        if (text.includes('ready')) stop.abort();
      },
    });
    const end = await run;
    assert.equal(end.aborted, true);
    const [child] = pidsIn(end.tail);
    assert.ok(child);
    assert.equal(alive(child), false);
    assert.equal(end.survivors, 0);
  });

  it('a missing program is a spawn error, not a crash', async () => {
    const end = await runProcess({
      argv: ['vt-no-such-program'],
      cwd: tempDir(),
      env: childEnv({}),
      timeoutMs: 10_000,
    });
    assert.equal(end.spawnError?.code, 'ENOENT');
  });
});

describe('child environments', () => {
  const from = {
    PATH: '/usr/bin',
    HOME: '/root',
    VT_DATABASE_URL: '/srv/vt/.vt/vt.db',
    DATABASE_URL: 'postgres://u:secret@db/vt',
    PGPASSWORD: 'secret',
    ANTHROPIC_API_KEY: 'sk-ant-xxxxxxxx',
    SSH_AUTH_SOCK: '/tmp/ssh-XXXX/agent.1',
    VT_SIGNING_KEY: '/root/.ssh/id_ed25519',
    LANG: 'C.UTF-8',
  };

  it("an executor's environment never holds the store or its credentials", () => {
    const env = childEnv({ VT_SESSION: 's1' }, { from });
    assert.equal(env.VT_DATABASE_URL, undefined);
    assert.equal(env.DATABASE_URL, undefined);
    assert.equal(env.PGPASSWORD, undefined);
    assert.equal(env.SSH_AUTH_SOCK, undefined, "no way to a person's ssh-agent");
    assert.equal(env.VT_SIGNING_KEY, undefined);
    assert.equal(env.ANTHROPIC_API_KEY, 'sk-ant-xxxxxxxx', 'an agent still reaches its model');
    assert.equal(env.VT_SESSION, 's1');
  });

  it("a gate's command gets a scrubbed environment: PATH and locale, no secrets", () => {
    const env = childEnv({ VT_PROJECT: 'p' }, { from, scrubbed: true });
    assert.deepEqual(Object.keys(env).sort(), ['LANG', 'PATH', 'VT_PROJECT']);
  });
});
