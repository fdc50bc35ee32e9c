// Executors and command gates run in bubblewrap: a hostile executor, run by the real autopilot against
// a real store, cannot read the store, another session's worktree, a person's keys or ssh-agent, or
// write outside its worktree, and what it leaves running dies with it. The same script without the
// sandbox shows each of those is otherwise open.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Progress, runAutopilot } from '../src/autopilot/worker.ts';
import { openWorkspaces } from '../src/autopilot/workspace.ts';
import { writeLauncher } from '../src/cli/commands/autopilot.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo, runCommand } from '../src/io/node-io.ts';
import { childEnv, runProcess } from '../src/io/process.ts';
import { agentHomeOf, planSandbox, sandboxAvailable } from '../src/io/sandbox.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { agentTrain } from './fixtures/agent-train.ts';
import { autoTrainYaml, ROOT, spawnCollect, tempDir, VT_BIN } from './helpers.ts';

const HOSTILE = join(ROOT, 'test', 'fixtures', 'sandbox-probe.ts');
const made: string[] = [];
const stores: Store[] = [];
const temp = (prefix: string) => {
  const d = tempDir(prefix);
  made.push(d);
  return d;
};
after(async () => {
  for (const s of stores) await s.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Set environment variables for one test, and put them back. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A home folder holding a person's ssh key and vt signing key, and a real ssh-agent holding the key. */
async function personsHome() {
  const home = temp('vt-home-');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'ana',
    '-f',
    join(home, '.ssh', 'id_ed25519'),
  ]);
  mkdirSync(join(home, '.config', 'vt', 'keys'), { recursive: true });
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'ana',
    '-f',
    join(home, '.config', 'vt', 'keys', 'x'),
  ]);
  const sock = join(temp('vt-agent-'), 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
  for (let i = 0; i < 400 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(existsSync(sock), 'ssh-agent is listening');
  // The socket file appears when ssh-agent binds it, a moment before it listens.
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('ssh-add', ['-q', join(home, '.ssh', 'id_ed25519')], {
        env: { ...process.env, SSH_AUTH_SOCK: sock },
        stdio: 'pipe',
      });
      break;
    } catch (err) {
      if (attempt >= 200) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const tmpFile = join(temp('vt-decoy-'), 'note.txt');
  writeFileSync(tmpFile, 'another process’s temporary file');
  return {
    home,
    sock,
    tmpFile,
    stop: () => {
      if (agent.pid) process.kill(agent.pid, 'SIGTERM');
    },
  };
}

/** Processes whose command line holds `marker`, with their pids. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes(marker) && state !== 'Z') out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The hostile executor worked by the real autopilot on a real store; `sandbox` as the train says. */
async function runHostile(sandbox: 'bwrap' | 'none') {
  const person = await personsHome();
  const dir = temp('vt-sandbox-');
  const yaml = agentTrain(
    `{ kind: command, run: ["{node}", "${HOSTILE}"], timeout_s: 120, sandbox: ${sandbox} }`,
  );
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  const store = await openStore(join(dir, '.vt', 'vt.db'), { synchronous: 'NORMAL' });
  stores.push(store);
  const engine = new Engine({ store, io: nodeIo });
  const tickets = new Tickets(engine);
  await engine.createProject(
    { id: 'churn', name: 'Churn', workspace: dir, train: parseTrain(yaml, join(dir, 'vt.yaml')) },
    { actor: 'ana' },
  );
  await tickets.addIssue('churn', { title: 'Train a churn model' }, { actor: 'ana' });
  // Another session's worktree, with its work in it.
  const other = join(dir, '.vt', 'workspaces', 'fraud-1-build.s1');
  mkdirSync(other, { recursive: true });
  writeFileSync(join(other, 'model.pkl'), 'another team’s model');
  const marker = `vt-escape-${sandbox}-${process.pid}-${Date.now()}`;
  const progress: Progress[] = [];
  try {
    await withEnv(
      {
        HOME: person.home,
        HOSTILE_ROOT: dir,
        HOSTILE_OTHER_WS: other,
        HOSTILE_AGENT_SOCK: person.sock,
        HOSTILE_TMP_FILE: person.tmpFile,
        HOSTILE_MARKER: marker,
      },
      async () =>
        runAutopilot(
          {
            engine,
            tickets,
            workspaces: await openWorkspaces(dir, 'folder'),
            root: dir,
            dbTarget: join(dir, '.vt', 'vt.db'),
            binDir: writeLauncher(dir),
          },
          {
            concurrency: 1,
            once: false,
            watch: false,
            leaseMs: 120_000,
            heartbeatMs: 30_000,
            backoffMs: 10,
            pollMs: 50,
            onProgress: (p) => progress.push(p),
          },
        ),
    );
  } finally {
    person.stop();
  }
  const session = await store.db
    .selectFrom('sessions')
    .selectAll()
    .where('phase', '=', 'build')
    .executeTakeFirstOrThrow();
  const log = readFileSync(session.log, 'utf8');
  const probes = Object.fromEntries(
    [...log.matchAll(/^PROBE (.*)$/gm)].map((m) => {
      const p = JSON.parse(m[1]!) as { name: string; ok: boolean; detail: string };
      return [p.name, p];
    }),
  );
  const events = await store.db
    .selectFrom('events')
    .select(['type', 'actor', 'payload'])
    .where('project_id', '=', 'churn')
    .orderBy('seq')
    .execute();
  const s = await engine.state('churn');
  return { dir, store, s, session, log, probes, events, progress, marker };
}

const toolCalls = (events: { type: string; payload: string }[]) =>
  events
    .filter((e) => e.type === 'session.tool-called')
    .map((e) => JSON.parse(e.payload) as { tool: string; outcome: string; reason: string | null });

const ATTACKS = [
  'read-store',
  'list-other-workspace',
  'read-ssh-key',
  'read-vt-key',
  'read-tmp',
  'ssh-agent',
  'write-train',
  'write-git-config',
] as const;

describe('the sandbox (bubblewrap)', {
  // Skipped only on a developer's machine without bubblewrap; CI installs it (.ci/run) and fails without.
  skip:
    !sandboxAvailable().available &&
    !process.env.CI &&
    'bubblewrap is not installed (apt-get install bubblewrap)',
}, () => {
  before(() => assert.equal(sandboxAvailable().available, true));

  it('keeps a hostile executor from the store, other worktrees, keys, the ssh-agent and files outside its worktree', async (t) => {
    const run = await runHostile('bwrap');
    for (const p of Object.values(run.probes))
      t.diagnostic(`${p.name}: ${p.ok ? 'WORKED' : 'refused'} (${p.detail})`);
    assert.match(run.log, /\[vt\] in a sandbox \(bubblewrap\)/);
    for (const name of ATTACKS) {
      assert.ok(run.probes[name], `the script tried ${name}:\n${run.log}`);
      assert.equal(
        run.probes[name]!.ok,
        false,
        `${name} is refused in the sandbox: ${run.probes[name]!.detail}`,
      );
    }
    assert.match(run.probes['read-store']!.detail, /ENOENT/, 'the store is not there at all');
    assert.match(run.probes['read-ssh-key']!.detail, /ENOENT/);
    assert.match(run.probes['ssh-agent']!.detail, /ENOENT/, 'no socket to connect to');
    assert.match(run.probes['write-train']!.detail, /EROFS/, 'the project folder is read-only');
    assert.equal(readFileSync(join(run.dir, 'vt.yaml'), 'utf8').includes('changed by an executor'), false);
    assert.equal(
      readFileSync(join(run.dir, '.vt', 'repo.git', 'config'), 'utf8').includes('changed by an executor'),
      false,
    );
    // Its own worktree is writable, and it reports through its session's socket.
    assert.equal(run.probes['write-worktree']?.ok, true);
    assert.match(run.log, /reported through vt/);
    const build = Object.values(run.s.tickets).find((t) => t.phase === 'build')!;
    assert.equal(build.status, 'done', JSON.stringify(run.progress));
    assert.equal(run.s.evidence.build?.checklist.trained?.actor, 'agent:lab');
    assert.equal(run.s.evidence.build?.artifacts.report?.path, 'out/report.md');
    assert.equal(run.s.phase, 'ship');
    // Deciding is refused, and the refusal is on the record.
    assert.match(String(run.probes.approve?.detail), /approve is not a session tool/);
    assert.equal(run.probes['approve-stripped']?.ok, false);
    assert.match(
      String(run.probes['approve-stripped']?.detail),
      /no project "churn"/,
      'with its variables stripped, vt finds no store',
    );
    const calls = toolCalls(run.events);
    const refused = calls.find((c) => c.tool === 'approve');
    assert.equal(refused?.outcome, 'refused', JSON.stringify(calls));
    assert.ok(!run.events.some((e) => e.type === 'approval.recorded' || e.type === 'gate.waived'));
    // The process that left the executor's group died with the sandbox.
    assert.deepEqual(processesWith(run.marker), [], 'nothing the executor started is left');
  });

  it('the same script without the sandbox (sandbox: none) reaches every one of them', async (t) => {
    const run = await runHostile('none');
    for (const p of Object.values(run.probes))
      t.diagnostic(`${p.name}: ${p.ok ? 'WORKED' : 'refused'} (${p.detail})`);
    assert.match(run.log, /\[vt\] without a sandbox/);
    try {
      // What the sandbox prevents: each attack succeeds here.
      for (const name of ATTACKS)
        assert.equal(
          run.probes[name]?.ok,
          true,
          `${name} works without a sandbox: ${run.probes[name]?.detail}`,
        );
      assert.match(run.probes['ssh-agent']!.detail, /identities: 1/, "the person's key is offered");
      assert.ok(readFileSync(join(run.dir, 'vt.yaml'), 'utf8').includes('changed by an executor'));
      // And the process that called setsid outlived its executor's process group.
      assert.equal(processesWith(run.marker).length, 1, 'the escaped process is still running');
    } finally {
      for (const pid of processesWith(run.marker)) process.kill(pid, 'SIGKILL');
    }
    // The engine still refuses a decision from inside a session, sandbox or not: here it opened the store.
    assert.match(String(run.probes.approve?.detail), /approve is not a session tool/);
    assert.match(String(run.probes['approve-stripped']?.detail), /an agent session cannot approve/);
  });

  it('kills everything inside on a timeout, also what escaped the process group with setsid', async () => {
    const ws = temp('vt-sbx-ws-');
    const plan = planSandbox({
      mode: 'bwrap',
      what: 'a test',
      program: 'sh',
      path: process.env.PATH!,
      cwd: ws,
      writable: [ws],
    });
    assert.ok('wrap' in plan && plan.wrap);
    const marker = `vt-timeout-${process.pid}-${Date.now()}`;
    const end = await runProcess({
      argv: [
        'sh',
        '-c',
        `setsid sh -c 'trap "" TERM; i=0; while [ $i -lt 600 ]; do i=$((i+1)); sleep 0.1; done # ${marker}' & trap "" TERM; sleep 60`,
      ],
      cwd: ws,
      env: childEnv({}),
      timeoutMs: 1500,
      sandbox: plan.wrap,
    });
    assert.equal(end.timedOut, true);
    assert.equal(end.survivors, 0);
    assert.deepEqual(processesWith(marker), [], 'the pid namespace took the escaped process with it');
  });

  it('a command gate sees its checkout, not the live project folder, its store or the home folder', async () => {
    const person = await personsHome();
    person.stop();
    const project = temp('vt-gate-project-');
    writeFileSync(join(project, 'vt.yaml'), 'version: 1\n');
    const store = await openStore(join(project, '.vt', 'vt.db'), { synchronous: 'NORMAL' });
    await store.close();
    const checkout = temp('vt-gate-checkout-');
    writeFileSync(join(checkout, 'model.txt'), 'the committed model');
    const script = `
      const fs = require('node:fs');
      const can = (f) => { try { fs.readFileSync(f); return true; } catch { return false; } };
      const seen = { checkout: can('model.txt'), train: can(${JSON.stringify(join(project, 'vt.yaml'))}),
        store: can(${JSON.stringify(join(project, '.vt', 'vt.db'))}), key: can(${JSON.stringify(join(person.home, '.ssh', 'id_ed25519'))}) };
      console.log(JSON.stringify(seen));
      process.exit(seen.checkout && !seen.train && !seen.store && !seen.key ? 0 : 1);`;
    const gate = (sandbox: 'bwrap' | 'none') =>
      withEnv({ HOME: person.home }, () =>
        runCommand(['node', '-e', script], checkout, 60_000, {}, { sandbox, project }),
      );
    const boxed = await gate('bwrap');
    assert.equal(boxed.exitCode, 0, boxed.outputTail);
    assert.match(boxed.outputTail, /"checkout":true,"train":false,"store":false,"key":false/);
    const open = await gate('none');
    assert.equal(
      open.exitCode,
      1,
      'without the sandbox the gate reads the live folder, the store and the key',
    );
    assert.match(open.outputTail, /"checkout":true,"train":true,"store":true,"key":true/);
  });

  it('an agent CLI sees its own configuration folder from the home folder, and nothing else of it', async () => {
    const home = temp('vt-agent-home-');
    mkdirSync(join(home, '.claude'), { recursive: true });
    writeFileSync(join(home, '.claude', 'settings.json'), '{"model":"x"}');
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----');
    writeFileSync(join(home, 'notes.txt'), 'private notes');
    // A stand-in for the claude binary, installed outside the visible system (in /tmp).
    const bin = temp('vt-agent-bin-');
    const fake = join(bin, 'claude');
    writeFileSync(
      fake,
      `#!${process.execPath}
const fs = require('node:fs'); const h = process.env.HOME;
const can = (f) => { try { fs.readFileSync(f); return true; } catch { return false; } };
let wrote = false; try { fs.writeFileSync(h + '/.claude/session.json', '{}'); wrote = true; } catch {}
console.log('SEEN ' + JSON.stringify({ config: can(h + '/.claude/settings.json'), wrote, key: can(h + '/.ssh/id_ed25519'), notes: can(h + '/notes.txt') }));
`,
      { mode: 0o755 },
    );
    const ws = temp('vt-agent-ws-');
    const log = join(temp('vt-agent-log-'), 'session.log');
    const { runCommandExecutor } = await import('../src/agents/executors/command.ts');
    const result = await withEnv({ HOME: home }, () =>
      runCommandExecutor({
        argv: ['claude', '-p', 'hello'],
        cwd: ws,
        env: { PATH: `${bin}:${process.env.PATH}` },
        input: '',
        timeoutMs: 60_000,
        logFile: log,
        sandbox: {
          mode: 'bwrap',
          what: 'the claude preset',
          writable: [ws],
          agentHome: agentHomeOf('claude', { HOME: home }),
        },
      }),
    );
    const text = readFileSync(log, 'utf8');
    assert.equal(result.outcome, 'succeeded', text);
    assert.match(text, /SEEN \{"config":true,"wrote":true,"key":false,"notes":false\}/);
    assert.ok(
      existsSync(join(home, '.claude', 'session.json')),
      'its configuration folder is its own, writable',
    );
  });

  it("keeps vt's keys out of sight where XDG_CONFIG_HOME puts them, even inside a visible folder", async () => {
    // A careless operator: XDG_CONFIG_HOME inside the project folder, which executors see read-only.
    const project = temp('vt-xdg-project-');
    writeFileSync(join(project, 'README.md'), 'the project');
    const config = join(project, 'config');
    mkdirSync(join(config, 'vt', 'keys'), { recursive: true });
    writeFileSync(join(config, 'vt', 'keys', 'ana'), '-----BEGIN OPENSSH PRIVATE KEY-----');
    const ws = temp('vt-xdg-ws-');
    const log = join(temp('vt-xdg-log-'), 'session.log');
    const script = `const fs = require('node:fs');
const can = (f) => { try { fs.readFileSync(f); return true; } catch { return false; } };
console.log('SEEN ' + JSON.stringify({ project: can(${JSON.stringify(join(project, 'README.md'))}), key: can(${JSON.stringify(join(config, 'vt', 'keys', 'ana'))}) }));`;
    const { runCommandExecutor } = await import('../src/agents/executors/command.ts');
    const result = await withEnv({ XDG_CONFIG_HOME: config }, () =>
      runCommandExecutor({
        argv: ['node', '-e', script],
        cwd: ws,
        env: {},
        input: '',
        timeoutMs: 60_000,
        logFile: log,
        sandbox: { mode: 'required', what: 'a probe', writable: [ws], visible: [project] },
      }),
    );
    const text = readFileSync(log, 'utf8');
    assert.equal(result.outcome, 'succeeded', text);
    assert.match(text, /SEEN \{"project":true,"key":false\}/);
    // The key is there outside: it is the sandbox that hides it.
    assert.ok(readFileSync(join(config, 'vt', 'keys', 'ana'), 'utf8').includes('PRIVATE KEY'));
  });
});

describe('without bubblewrap', () => {
  /** A PATH with node, git, tar and sh but no bwrap. */
  function pathWithoutBwrap(): string {
    const bin = temp('vt-nobwrap-');
    const find = (cmd: string) =>
      execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
    symlinkSync(process.execPath, join(bin, 'node'));
    for (const cmd of ['git', 'tar', 'sh', 'env']) symlinkSync(find(cmd), join(bin, cmd));
    return bin;
  }

  it('sandbox: required sends the ticket to a person with the reason', async () => {
    const dir = temp('vt-required-');
    const yaml = agentTrain(
      `{ kind: command, run: ["{node}", "${HOSTILE}"], timeout_s: 60, sandbox: required }`,
    );
    writeFileSync(join(dir, 'vt.yaml'), yaml);
    const store = await openStore(join(dir, '.vt', 'vt.db'), { synchronous: 'NORMAL' });
    stores.push(store);
    const engine = new Engine({ store, io: nodeIo });
    const tickets = new Tickets(engine);
    await engine.createProject(
      { id: 'churn', name: 'Churn', workspace: dir, train: parseTrain(yaml, join(dir, 'vt.yaml')) },
      { actor: 'ana' },
    );
    await tickets.addIssue('churn', { title: 'Train a churn model' }, { actor: 'ana' });
    const progress: Progress[] = [];
    await withEnv({ PATH: pathWithoutBwrap() }, async () =>
      runAutopilot(
        {
          engine,
          tickets,
          workspaces: await openWorkspaces(dir, 'folder'),
          root: dir,
          dbTarget: join(dir, '.vt', 'vt.db'),
          binDir: writeLauncher(dir),
        },
        {
          concurrency: 1,
          once: false,
          watch: false,
          leaseMs: 60_000,
          heartbeatMs: 20_000,
          backoffMs: 10,
          pollMs: 50,
          onProgress: (p) => progress.push(p),
        },
      ),
    );
    const s = await engine.state('churn');
    const build = Object.values(s.tickets).find((t) => t.phase === 'build')!;
    assert.equal(build.status, 'awaiting-human');
    const waiting = progress.find((p) => p.type === 'waiting');
    assert.ok(waiting && waiting.type === 'waiting');
    assert.match(waiting.reason, /sandbox: required/);
    assert.match(waiting.reason, /bubblewrap \(bwrap\) is not installed/);
    const session = await store.db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
    assert.equal(session.outcome, 'unavailable');
    assert.equal(readFileSync(session.log, 'utf8').includes('PROBE'), false, 'the executor never ran');
  });

  it('sandbox: bwrap (the default) runs without one, and says so once per process', async () => {
    const dir = temp('vt-nosandbox-');
    writeFileSync(join(dir, 'vt.yaml'), autoTrainYaml(3));
    const init = spawnCollect([VT_BIN, 'project', 'create', 'Solo', '--id', 'solo', '--as', 'lead-1'], {
      cwd: dir,
    });
    assert.equal((await init.done).code, 0, init.err());
    const issue = spawnCollect([VT_BIN, 'issue', 'add', 'walk', '-p', 'solo', '--as', 'lead-1'], {
      cwd: dir,
    });
    assert.equal((await issue.done).code, 0, issue.err());
    const run = spawnCollect([VT_BIN, 'autopilot'], {
      cwd: dir,
      env: { PATH: pathWithoutBwrap(), NO_COLOR: '1', VT_SQLITE_SYNCHRONOUS: 'NORMAL' },
    });
    const end = await run.done;
    assert.equal(end.code, 0, run.err());
    assert.match(run.err(), /3 finished/);
    const warnings = run.err().match(/run without a sandbox/g) ?? [];
    assert.equal(warnings.length, 1, run.err());
    assert.match(run.err(), /bubblewrap \(bwrap\) is not installed/);
  });

  it('a command gate with sandbox: required is an error naming the reason, not a pass', async () => {
    const checkout = temp('vt-gate-req-');
    const out = await withEnv({ PATH: pathWithoutBwrap() }, () =>
      runCommand(['node', '-e', 'process.exit(0)'], checkout, 60_000, {}, { sandbox: 'required' }),
    );
    assert.equal(out.exitCode, null);
    assert.match(out.problem ?? '', /sandbox: required.*bubblewrap \(bwrap\) is not installed/);
  });

  it('a mistyped VT_SANDBOX refuses instead of running unsandboxed', () => {
    const ws = temp('vt-typo-');
    const plan = planSandbox(
      { mode: undefined, what: 'x', program: 'sh', path: process.env.PATH!, cwd: ws, writable: [ws] },
      { ...process.env, VT_SANDBOX: 'off' },
    );
    assert.ok('refused' in plan);
    assert.match(plan.refused, /VT_SANDBOX="off" is not one of bwrap, none, required/);
  });
});

describe('the report file', () => {
  it('is never read through a symbolic link: an executor cannot make vt read a key into the record', async () => {
    const { readReport } = await import('../src/agents/report.ts');
    const dir = temp('vt-report-');
    const key = join(dir, 'id_ed25519');
    writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n');
    const report = join(dir, 'report.json');
    symlinkSync(key, report);
    assert.throws(
      () => readReport(report),
      (err: Error & { code?: string }) =>
        err.code === 'BAD_INPUT' && /symbolic link/.test(err.message) && !err.message.includes('secret'),
    );
    rmSync(report);
    mkdirSync(report);
    assert.throws(() => readReport(report), /not a regular file/);
  });
});

describe("settings vt puts back in a workspace after an agent's session", () => {
  it('are never written through a link the agent left: a file outside the workspace stays as it was', async () => {
    const { overlaySettings } = await import('../src/agents/cli-session.ts');
    const outside = temp('vt-outside-');
    const victim = join(outside, '.bashrc');
    writeFileSync(victim, 'the person’s shell setup\n');
    // A settings file committed in the workspace, which vt overlays for the session and puts back.
    const ws = temp('vt-overlay-ws-');
    mkdirSync(join(ws, '.gemini'));
    writeFileSync(join(ws, '.gemini', 'settings.json'), '{"theme":"dark"}\n');
    const undo = overlaySettings(ws, { '.gemini/settings.json': { mcpServers: { vt: { command: 'x' } } } });
    // The agent swaps the file for a link to a file of the person's.
    rmSync(join(ws, '.gemini', 'settings.json'));
    symlinkSync(victim, join(ws, '.gemini', 'settings.json'));
    undo();
    assert.equal(readFileSync(victim, 'utf8'), 'the person’s shell setup\n');
    assert.equal(readFileSync(join(ws, '.gemini', 'settings.json'), 'utf8'), '{"theme":"dark"}\n');
    // Or swaps the folder for a link to the person's folder.
    const undo2 = overlaySettings(ws, { '.gemini/settings.json': { mcpServers: {} } });
    rmSync(join(ws, '.gemini'), { recursive: true });
    symlinkSync(outside, join(ws, '.gemini'));
    writeFileSync(join(outside, 'settings.json'), 'the person’s own settings\n');
    undo2();
    assert.equal(readFileSync(join(outside, 'settings.json'), 'utf8'), 'the person’s own settings\n');
  });
});

describe('agent CLIs that sandbox themselves', () => {
  it("Codex is confined by vt's sandbox when it runs in one (its own bubblewrap cannot start inside)", async () => {
    const { PRESETS } = await import('../src/agents/executors/presets.ts');
    const ctx = {
      promptFile: '/s/prompt.md',
      sessionDir: '/s',
      mcpConfig: '/s/mcp.json',
      mcpLauncher: '/s/vt-mcp',
      workspace: '/w',
      allowed: null,
    };
    const mode = (argv: string[]) => argv[argv.indexOf('--sandbox') + 1];
    assert.equal(mode(PRESETS.codex.argv({ ...ctx, sandboxed: false })), 'workspace-write');
    assert.equal(mode(PRESETS.codex.argv({ ...ctx, sandboxed: true })), 'danger-full-access');
    // A read-only mode stays read-only either way.
    assert.equal(mode(PRESETS.codex.argv({ ...ctx, allowed: ['tick'], sandboxed: true })), 'read-only');
  });
});
