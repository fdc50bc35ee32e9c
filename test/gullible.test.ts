// A gullible agent tries every forbidden thing it was told about: none of it changes the store, and
// every attempt the engine saw is on the record. (Inside the sandbox the file system attempts fail too;
// see test/sandbox.test.ts.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../src/store/store.ts';
import { autoTrainYaml, committedText, ROOT, runVt, spawnCollect, tempDir, VT_BIN } from './helpers.ts';

const HOSTILE = join(ROOT, 'test', 'fixtures', 'hostile.ts');

describe('a gullible agent', () => {
  it('tries 18 forbidden things: none changes the store, each the engine saw is recorded, the work still gets done', {
    timeout: 600_000,
  }, async () => {
    const dir = tempDir('vt-gullible-');
    const yaml = autoTrainYaml(2).replace(/run: \["\{node\}", "[^"]+"\]/, `run: ["{node}", "${HOSTILE}"]`);
    writeFileSync(join(dir, 'vt.yaml'), yaml);
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
    const run = spawnCollect([VT_BIN, 'autopilot', '--json', '--project', 'victim'], {
      cwd: dir,
      env: { NO_COLOR: '1', VT_TEST_ROOT: dir, SSH_AUTH_SOCK: '/tmp/ssh-fake/agent.1', VT_SIGNING_KEY: '/x' },
    });
    const end = await run.done;
    assert.equal(end.code, 0, run.err());

    const logs = readdirSync(join(dir, '.vt', 'logs')).sort();
    const attempts = logs.flatMap((f) =>
      readFileSync(join(dir, '.vt', 'logs', f), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('HOSTILE '))
        .map((l) => JSON.parse(l.slice(8)) as Record<string, { ok: boolean; detail: string }>),
    );
    assert.equal(attempts.length, 2, 'both phases were worked by the gullible agent');
    const first = attempts[0]!;
    assert.equal(Object.keys(first).length, 18);
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

    const store = await openStore(join(dir, '.vt', 'vt.db'));
    const events = await store.db.selectFrom('events').selectAll().orderBy('gseq').execute();
    await store.close();
    const of = (type: string) => events.filter((e) => e.type === type);
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
    // Every attempt the engine saw is recorded as refused, with the tool and the reason.
    const refused = of('session.tool-called')
      .map((e) => JSON.parse(e.payload) as { tool: string; outcome: string; reason: string })
      .filter((e) => e.outcome === 'refused');
    const tools = new Set(refused.map((r) => r.tool));
    for (const tool of ['advance', 'approve', 'waive', 'done', 'cancel', 'tick', 'put_artifact'])
      assert.ok(tools.has(tool), `a refused ${tool} is recorded: ${[...tools].join(', ')}`);
    assert.ok(
      refused.some((r) => /token does not match/.test(r.reason)),
      'the replayed token is recorded',
    );
    assert.ok(
      refused.some((r) => /PATH_ESCAPE/.test(r.reason)),
      'the artifact outside is recorded',
    );
    assert.ok(
      refused.filter((r) => r.tool === 'approve').length >= 4,
      'approve refused through the session and with the environment stripped, in both sessions',
    );

    // The train the project follows is the one it pinned, whatever was written to vt.yaml.
    const after = JSON.parse((await vt(['status', 'victim', '--json'])).stdout);
    assert.equal(after.train.hash, trainHash);
    assert.equal(after.status, 'completed');
    // The line the agent moved did not decide where the next ticket started, and nothing it planted
    // elsewhere is in a recorded commit.
    const commits = of('workspace.committed').map((e) => JSON.parse(e.payload).commit as string);
    for (const c of commits) {
      await assert.rejects(committedText(dir, c, 'evil/payload.txt'), /not in commit/);
      await assert.rejects(committedText(dir, c, 'planted.txt'), /not in commit/);
    }
  });
});
