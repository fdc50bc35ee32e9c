import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { markPostgresFolder } from '../src/store/postgres-mark.ts';
import { backendEnv, MINI, runVt, tempDir, testBackend, VT_BIN, writeFile } from './helpers.ts';
import { describeOnBackends } from './pg.ts';

async function project(): Promise<string> {
  const dir = tempDir();
  cpSync(MINI, join(dir, 'vt.yaml'));
  const r = await runVt(['project', 'create', 'Churn', '--id', 'churn', '--as', 'lead-1'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

describeOnBackends('output conventions', () => {
  it('gate check and advance print their verdict on stdout', async () => {
    const dir = await project();
    const g = await runVt(['gate', 'check', 'churn'], { cwd: dir });
    assert.equal(g.code, 1);
    assert.match(g.stdout, /^gates of triage: failed\n/);
    assert.match(g.stdout, /✗ failed {2}done: /);
    const a = await runVt(['advance', 'churn'], { cwd: dir });
    assert.equal(a.code, 1);
    assert.match(a.stdout, /triage stays: its exit gates did not pass/);
  });

  it('audit log: says how many events --limit hides; piped summaries are never cut', async () => {
    const dir = await project();
    const long = 'a decision that is much longer than sixty characters, written down in full for the record';
    assert.equal((await runVt(['context', 'add', 'churn', 'decision', long], { cwd: dir })).code, 0);
    for (const v of ['0.1', '0.2', '0.3'])
      assert.equal((await runVt(['metric', 'set', 'churn', 'auc', v], { cwd: dir })).code, 0);
    const r = await runVt(['audit', 'log', 'churn', '--limit', '2'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 2);
    assert.match(r.stderr, /showing the newest 2 of 5 events; 3 older ones are hidden/);
    const all = await runVt(['audit', 'log', 'churn'], { cwd: dir });
    assert.ok(all.stdout.includes(long), 'the full summary, untruncated, when piped');
    assert.equal(all.stderr, '');
  });

  it('metric list and history; an unknown project is an error with a suggestion, also for context show', async () => {
    const dir = await project();
    for (const v of ['0.61', '0.72'])
      assert.equal((await runVt(['metric', 'set', 'churn', 'auc', v], { cwd: dir })).code, 0);
    const list = JSON.parse((await runVt(['metric', 'list', 'churn', '--json'], { cwd: dir })).stdout);
    assert.equal(list.auc.value, 0.72);
    const hist = JSON.parse(
      (await runVt(['metric', 'history', 'churn', 'auc', '--json'], { cwd: dir })).stdout,
    );
    assert.deepEqual(
      hist.map((h: { value: number }) => h.value),
      [0.61, 0.72],
    );
    for (const args of [
      ['context', 'show', 'chrun'],
      ['metric', 'list', 'chrun'],
      ['status', 'chrun'],
    ]) {
      const r = await runVt(args, { cwd: dir });
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /no project "chrun"[\s\S]*Did you mean churn\?/);
    }
  });

  it('times are local unless --utc; --expires with a date alone is local midnight', async () => {
    const dir = await project();
    const env = { TZ: 'America/New_York' };
    const r = await runVt(
      ['waive', 'churn', 'done', '--reason', 'x', '--expires', '2026-12-25', '--json', '--as', 'lead-1'],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).expires_at, '2026-12-25T05:00:00.000Z');
    assert.match(r.stderr, /until 2026-12-25T00:00:00\.000-05:00/);
    const u = await runVt(
      [
        'waive',
        'churn',
        'files',
        '--reason',
        'x',
        '--expires',
        '2026-12-25',
        '--utc',
        '--json',
        '--as',
        'lead-1',
      ],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(JSON.parse(u.stdout).expires_at, '2026-12-25T00:00:00.000Z');
    const list = await runVt(['project', 'list'], { cwd: dir, env });
    assert.match(list.stdout, /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-0[45]:00\n$/);
    const utc = await runVt(['project', 'list', '--utc'], { cwd: dir, env });
    assert.match(utc.stdout, /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/);
  });

  it('abort reports success as success', async () => {
    const dir = await project();
    const r = await runVt(['abort'], { cwd: dir });
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stderr, /✗/);
    assert.equal((await runVt(['abort', '--clear'], { cwd: dir })).code, 0);
  });

  it('an unknown field in vt.yaml gets "did you mean"', async () => {
    const dir = tempDir();
    writeFile(
      dir,
      'vt.yaml',
      `${'version: 1\nname: t\nroles: [{ id: a, name: A }]\nphases:\n'}  - { id: p, name: P, stage: delivery, owner: a, nxt: null }\n`,
    );
    const r = await runVt(['lint'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /vt\.yaml:5:\d+: phases\[0\]: unknown field "nxt"\. Did you mean next\?/);
  });
});

describeOnBackends('completion and doctor', () => {
  it('bash completion completes commands, project ids and checklist items through the real script', async () => {
    const dir = await project();
    const script = (await runVt(['completion', 'bash'], { cwd: dir })).stdout;
    const store = await backendEnv(dir); // the store the real script's vt calls read
    const bin = tempDir();
    writeFile(bin, 'vt', `#!/bin/sh\nexec '${process.execPath}' '${VT_BIN}' "$@"\n`);
    spawnSync('chmod', ['+x', join(bin, 'vt')]);
    const complete = (line: string) => {
      const words = line.split(' ');
      const r = spawnSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vt_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { cwd: dir, encoding: 'utf8', env: { ...process.env, ...store, PATH: `${bin}:${process.env.PATH}` } },
      );
      return r.stdout.trim().split('\n');
    };
    assert.deepEqual(complete('vt sta'), ['status']);
    if (testBackend.current === 'postgres') {
      // Ids come from a SQLite file without opening the store; on PostgreSQL, commands and options.
      assert.deepEqual(complete('vt status '), ['']);
      assert.deepEqual(complete('vt tick churn '), ['']);
    } else {
      assert.deepEqual(complete('vt status '), ['churn']);
      assert.deepEqual(complete('vt tick churn '), ['asked', 'extra', 'sized']);
      assert.deepEqual(complete('vt waive churn '), ['done', 'files', 'go']);
    }
    assert.ok(complete('vt audit --').includes('--json'));
    for (const shell of ['zsh', 'fish'])
      assert.equal((await runVt(['completion', shell], { cwd: dir })).code, 0);
    assert.equal((await runVt(['completion', 'tcsh'], { cwd: dir })).code, 2);
  });

  it('doctor checks Node, the store, git and the disk, as JSON too', async () => {
    const dir = await project();
    const r = await runVt(['doctor', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stdout);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { check: string; status: string; message: string }[];
    };
    const status = Object.fromEntries(report.checks.map((c) => [c.check, c.status]));
    assert.equal(status.node, 'ok');
    assert.equal(status.store, 'ok');
    assert.equal(status.audit, 'ok');
    assert.equal(status.clock, 'ok');
    assert.ok('git' in status && 'sandbox' in status && 'agent claude' in status);
    // A SQLite store's folder has a disk to fill; a PostgreSQL store says the server answers.
    const store = report.checks.find((c) => c.check === 'store')!;
    if (testBackend.current === 'postgres') {
      assert.match(store.message, /PostgreSQL .* answers; schema current \(\d+ migrations\)/);
      assert.ok(!('disk the store' in status));
      // A server that does not answer fails the store check, named, with exit 1.
      const down = await runVt(['doctor', '--json'], {
        cwd: dir,
        env: { VT_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/vt' },
      });
      assert.equal(down.code, 1, down.stderr);
      const failed = (JSON.parse(down.stdout) as typeof report).checks.find((c) => c.check === 'store');
      assert.equal(failed?.status, 'fail');
      assert.match(
        (failed as { message: string }).message,
        /cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/vt/,
      );
      // A shell without the URL, in a folder marked as vt init marks it, fails the check too.
      markPostgresFolder(dir);
      const unset = await runVt(['doctor', '--json'], { cwd: dir, env: { VT_DATABASE_URL: '' } });
      assert.equal(unset.code, 1, unset.stderr);
      const mark = (JSON.parse(unset.stdout) as typeof report).checks.find((c) => c.check === 'store');
      assert.equal(mark?.status, 'fail');
      assert.match(mark!.message, /is on PostgreSQL, and VT_DATABASE_URL is not set/);
    } else assert.ok('disk the store' in status);
  });
});
