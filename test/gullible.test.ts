// A gullible agent tries every forbidden thing it was told about: none of it changes the store, and
// every attempt the engine saw is on the record. Without a sandbox that is the engine's doing alone; in
// the sandbox its file system attempts (the store, the train, another workspace, the project's line)
// fail as well. On both backends: on PostgreSQL the store is reached through the URL in the worker's
// environment, which only the sandbox hides.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { markPostgresFolder } from '../src/store/postgres-mark.ts';
import { openStore } from '../src/store/store.ts';
import {
  autoTrainYaml,
  backendEnv,
  committedText,
  folderStore,
  ROOT,
  runVt,
  spawnCollect,
  tempDir,
  testBackend,
  VT_BIN,
} from './helpers.ts';
import { describeOnBackends } from './pg.ts';

const HOSTILE = join(ROOT, 'test', 'fixtures', 'hostile.ts');

type Attempts = Record<string, { ok: boolean; detail: string }>;

/** Let the gullible agent work both phases of a project; what it tried, what was recorded. */
async function attack(sandbox: 'required' | 'none') {
  const dir = tempDir('vt-gullible-');
  const yaml = autoTrainYaml(2).replace(/run: \["\{node\}", "[^"]+"\]/, `run: ["{node}", "${HOSTILE}"]`);
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  // On PostgreSQL the folder carries the mark vt init leaves: the store is elsewhere.
  if (testBackend.current === 'postgres') markPostgresFolder(dir);
  const git = (...a: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], {
      encoding: 'utf8',
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-qm', 'init');
  const vt = (args: string[], actor = 'lead-1') => runVt(args, { cwd: dir, env: { VT_ACTOR: actor } });
  for (const name of ['Victim', 'Other']) assert.equal((await vt(['project', 'create', name])).code, 0);
  assert.equal((await vt(['issue', 'add', 'Do the work', '--project', 'victim'])).code, 0);
  const trainHash = JSON.parse((await vt(['status', 'victim', '--json'])).stdout).train.hash;
  // Another session's worktree, for the agent to find and plant a file in.
  const other = join(dir, '.vt', 'workspaces', 'other-1-p01.s1');
  mkdirSync(other, { recursive: true });
  writeFileSync(join(other, 'work.txt'), 'another session’s work\n');
  const run = spawnCollect([VT_BIN, 'autopilot', '--json', '--project', 'victim'], {
    cwd: dir,
    // required: a machine without bubblewrap fails this run instead of passing it unsandboxed.
    env: {
      NO_COLOR: '1',
      VT_TEST_ROOT: dir,
      SSH_AUTH_SOCK: '/tmp/ssh-fake/agent.1',
      VT_SIGNING_KEY: '/x',
      VT_SANDBOX: sandbox,
      ...(await backendEnv(dir)),
    },
  });
  const end = await run.done;
  assert.equal(end.code, 0, run.err());

  const logs = readdirSync(join(dir, '.vt', 'logs')).sort();
  const attempts = logs.flatMap((f) =>
    readFileSync(join(dir, '.vt', 'logs', f), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('HOSTILE '))
      .map((l) => JSON.parse(l.slice(8)) as Attempts),
  );
  assert.equal(attempts.length, 2, 'both phases were worked by the gullible agent');
  for (const a of attempts) assert.equal(Object.keys(a).length, 19);

  const store = await openStore(await folderStore(dir));
  const events = await store.db.selectFrom('events').selectAll().orderBy('gseq').execute();
  await store.close();
  const of = (type: string) => events.filter((e) => e.type === type);
  const refused = of('session.tool-called')
    .map((e) => JSON.parse(e.payload) as { tool: string; outcome: string; reason: string })
    .filter((e) => e.outcome === 'refused');
  return { dir, vt, yaml, trainHash, other, attempts, of, events, refused };
}

/** What holds with or without a sandbox: the engine refuses, records, and the work gets done. */
async function engineHeld(r: Awaited<ReturnType<typeof attack>>) {
  const { attempts, of, events, refused } = r;
  const first = attempts[0]!;
  // Everything that needs the engine is refused.
  for (const name of [
    'advance',
    'approve-as-person',
    'advance-stripped',
    'approve-stripped',
    'waive',
    'done',
    'cancel',
    'tick-other-project',
    'tick-other-phase',
    'artifact-outside',
    'replay-token',
  ])
    for (const a of attempts) assert.equal(a[name]!.ok, false, `${name}: ${a[name]!.detail}`);
  // No way to a person's keys or to the store through the environment.
  assert.match(first['person-keys']!.detail, /none in reach/);
  assert.match(first['store-url']!.detail, /none given/);

  assert.deepEqual(of('approval.recorded'), [], 'no approval');
  assert.deepEqual(of('gate.waived'), [], 'no waiver');
  assert.deepEqual(of('project.cancelled'), [], 'not cancelled');
  assert.deepEqual(
    events.filter((e) => e.project_id === 'other').map((e) => e.type),
    ['project.created'],
    'the other project is untouched',
  );
  // Transitions are the autopilot's, after each ticket's gates.
  assert.deepEqual(
    [...of('phase.advanced'), ...of('project.completed')].map((e) => e.actor),
    ['autopilot', 'autopilot'],
  );
  // The session's evidence is the agent's, whatever name it claimed.
  for (const e of of('checklist.ticked').filter((x) => x.project_id === 'victim'))
    assert.equal(e.actor, 'agent:worker', 'a tick through the session is the agent session, not lead-1');
  // Every attempt through the session is recorded as refused, with the tool and the reason.
  const tools = new Set(refused.map((x) => x.tool));
  for (const tool of ['advance', 'approve', 'waive', 'done', 'cancel', 'tick', 'put_artifact'])
    assert.ok(tools.has(tool), `a refused ${tool} is recorded: ${[...tools].join(', ')}`);
  assert.ok(
    refused.some((x) => /token does not match/.test(x.reason)),
    'the replayed token is recorded',
  );
  assert.ok(
    refused.some((x) => /PATH_ESCAPE/.test(x.reason)),
    'the artifact outside is recorded',
  );

  // The train the project follows is the one it pinned, whatever was written to vt.yaml.
  const after = JSON.parse((await r.vt(['status', 'victim', '--json'])).stdout);
  assert.equal(after.train.hash, r.trainHash);
  assert.equal(after.status, 'completed');
  // No commit of the agent's own is in the history of a recorded commit (where the line was moved,
  // it did not decide where the next ticket started), and nothing it planted elsewhere is in one.
  const commits = of('workspace.committed').map((e) => JSON.parse(e.payload).commit as string);
  assert.equal(commits.length, 2);
  for (const c of commits) {
    const subjects = execFileSync('git', ['-C', r.dir, 'log', '--format=%s', c], { encoding: 'utf8' });
    assert.ok(!subjects.split('\n').includes('evil'), `the agent's commit is not under ${c}`);
    await assert.rejects(committedText(r.dir, c, 'planted.txt'), /not in commit/);
  }
}

/** On PostgreSQL, the agent's vt with its session's variables stripped stops at the folder's mark. */
function strippedStopsAtTheMark(attempts: Attempts[]) {
  for (const a of attempts)
    for (const name of ['advance-stripped', 'approve-stripped'])
      assert.match(
        a[name]!.detail,
        /^exit 2: +Set VT_DATABASE_URL=postgres:\/\/… \(or pass --db\)/,
        `${name}: ${a[name]!.detail}`,
      );
}

describeOnBackends('a gullible agent', () => {
  it('without a sandbox tries 19 forbidden things: none changes the store, each the engine saw is recorded, the work still gets done', {
    timeout: 600_000,
  }, async () => {
    const r = await attack('none');
    await engineHeld(r);
    const postgres = testBackend.current === 'postgres';
    const approvals = r.refused.filter((x) => x.tool === 'approve').length;
    if (postgres) {
      // With its session's variables stripped, the agent's vt has no store URL: the folder's mark
      // stops it before it opens anything (no SQLite store of its own), so only the session's
      // refusals are on the record.
      assert.equal(approvals, 2, 'approve refused through the session, in both sessions');
      strippedStopsAtTheMark(r.attempts);
      assert.ok(!existsSync(join(r.dir, '.vt', 'vt.db')), 'no SQLite store was started beside the real one');
    }
    // With its session's variables stripped, the agent's vt is still known to act for the session.
    else
      assert.ok(
        approvals >= 4,
        'approve refused through the session and with the environment stripped, in both sessions',
      );
    // What only a sandbox stops: the same user reads the store and writes the train (so never run
    // an executor unsandboxed where that matters; the test below is the default). On PostgreSQL it
    // reads the worker's VT_DATABASE_URL from /proc and connects with it.
    const first = r.attempts[0]!;
    assert.equal(first['read-store']!.ok, !postgres, first['read-store']!.detail);
    assert.equal(first['store-from-parent']!.ok, postgres, first['store-from-parent']!.detail);
    assert.equal(first['write-train']!.ok, true, first['write-train']!.detail);
    assert.equal(first['write-other-workspace']!.ok, true, first['write-other-workspace']!.detail);
    assert.ok(existsSync(join(r.other, 'planted.txt')));
    // It moved the line and put its worktree back: the file of its own commit is in no recorded one.
    assert.match(first['move-line']!.detail, /^moved vt\/victim/);
    for (const e of r.of('workspace.committed'))
      await assert.rejects(
        committedText(r.dir, JSON.parse(e.payload).commit, 'evil/payload.txt'),
        /not in commit/,
      );
  });

  it('in the sandbox, its file system attempts fail too: the store, the train, another workspace, the project line', {
    timeout: 600_000,
  }, async () => {
    const r = await attack('required');
    await engineHeld(r);
    // The mark is the one thing of .vt/ the sandbox shows: a stripped vt inside stops at it too.
    if (testBackend.current === 'postgres') strippedStopsAtTheMark(r.attempts);
    for (const a of r.attempts) {
      // The store is not there to read (a vt run with its session stripped may leave an empty one
      // in the sandbox's throwaway .vt/: the project is not in it).
      assert.equal(a['read-store']!.ok, false, `read-store: ${a['read-store']!.detail}`);
      // Nor is any process outside the sandbox, whose environment could name a PostgreSQL store.
      assert.equal(a['store-from-parent']!.ok, false, a['store-from-parent']!.detail);
      assert.match(a['store-from-parent']!.detail, /no store URL in any parent process/);
      // The project folder is read-only; other sessions' worktrees are out of sight.
      assert.equal(a['write-train']!.ok, false, `write-train: ${a['write-train']!.detail}`);
      assert.match(a['write-train']!.detail, /EROFS|EACCES|EPERM/);
      assert.equal(a['write-other-workspace']!.ok, false, a['write-other-workspace']!.detail);
      // git inside reads; it cannot commit or move a branch.
      assert.equal(a['move-line']!.ok, false, `move-line: ${a['move-line']!.detail}`);
    }
    assert.equal(readFileSync(join(r.dir, 'vt.yaml'), 'utf8'), r.yaml, 'the train file is untouched');
    assert.ok(!existsSync(join(r.other, 'planted.txt')), 'nothing planted in the other worktree');
    assert.equal(readFileSync(join(r.other, 'work.txt'), 'utf8'), 'another session’s work\n');
    for (const ref of ['refs/heads/vt/victim', 'refs/heads/phase/p01_victim-1'])
      try {
        const at = execFileSync('git', ['-C', r.dir, 'log', '-1', '--format=%s', ref], { encoding: 'utf8' });
        assert.notEqual(at.trim(), 'evil', `${ref} was not moved by the agent`);
      } catch (err) {
        assert.match(String(err), /unknown revision|bad revision|ambiguous argument/, String(err));
      }
  });
});
