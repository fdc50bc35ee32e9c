// Signed decisions through the real CLI (subprocesses): vt init lists the person's key, the decision
// commands sign (--key, VT_SIGNING_KEY, ssh-agent), an unsigned decision is refused with the fix, a
// forged approval written straight into the store fails vt audit verify and passes no gate, and an
// agent's session reaches no one's key.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { currentEvidence } from '../src/engine/state.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { evidenceDigest } from '../src/gates/digest.ts';
import { autoTrainYaml, backendEnv, runVt, spawnCollect, tempDir, VT_BIN, writeFile } from './helpers.ts';
import { pubLine, ssh, sshVerify, startAgent } from './identity-helpers.ts';
import { appendOutsideVt, rebuildLogTables } from './merkle-forge.ts';
import { describeOnBackends, tamperable } from './pg.ts';
import { makeKeys, signAs, signedEngine } from './signing-helpers.ts';

const cleanup: string[] = [];
after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});
const temp = (prefix: string) => {
  const d = tempDir(prefix);
  cleanup.push(d);
  return d;
};

/** An environment with no way to anyone's key but what a test gives. */
const bare = (xdg: string, extra: Record<string, string> = {}) => ({
  SSH_AUTH_SOCK: '',
  VT_SIGNING_KEY: '',
  XDG_CONFIG_HOME: xdg,
  ...extra,
});

describeOnBackends('vt init', () => {
  it('lists the person with a new vt key (outside the folder, mode 0600) under people:, and the train requires signatures', async () => {
    const dir = temp('vt-init-');
    const xdg = temp('vt-init-xdg-');
    const r = await runVt(['--as', 'ana', 'init'], { cwd: dir, env: bare(xdg) });
    assert.equal(r.code, 0, r.stderr);
    const key = join(xdg, 'vt', 'keys', 'ana');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    const yaml = readFileSync(join(dir, 'vt.yaml'), 'utf8');
    assert.ok(
      yaml.includes(`ana:\n    roles: [conductor, evaluator]\n    keys:\n      - key: "${pubLine(key)}"`),
      yaml,
    );
    assert.match(yaml, /^decisions:\n {2}signed: required$/m);
    assert.match(r.stderr, /ana signs decisions with ssh-ed25519 SHA256:/);
    assert.equal((await runVt(['lint'], { cwd: dir })).code, 0);
    const who = await runVt(['--as', 'ana', 'whoami', '--json'], { cwd: dir, env: bare(xdg) });
    assert.equal(JSON.parse(who.stdout).listing.status, 'valid');
    // The quick start keeps working: a project, and ana's decision is signed with that key, unasked.
    const id = (await runVt(['project', 'create', 'Churn'], { cwd: dir, env: bare(xdg) })).stdout.trim();
    const hold = await runVt(['--as', 'ana', 'hold', id, '--reason', 'waiting for data'], {
      cwd: dir,
      env: bare(xdg),
    });
    assert.equal(hold.code, 0, hold.stderr);
    const audit = await runVt(['audit', 'verify', '--json'], { cwd: dir });
    assert.equal(audit.code, 0, audit.stderr);
    assert.equal(JSON.parse(audit.stdout).decisions.signed, 1);
    // Someone the train does not list cannot decide: refused with the fix.
    const bob = await runVt(['--as', 'bob', 'resume', id], { cwd: dir, env: bare(xdg) });
    assert.equal(bob.code, 4, bob.stderr);
    assert.match(bob.stderr, /requires signed decisions/);
    assert.match(bob.stderr, /vt keys init --name bob/);
  });

  it('lists the key ssh-agent holds, and makes no vt key', async () => {
    const dir = temp('vt-init-agent-');
    const xdg = temp('vt-init-agent-xdg-');
    const keys = temp('vt-init-agent-keys-');
    const mine = join(keys, 'id_ed25519');
    assert.equal(
      ssh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ana@laptop', '-f', mine]).code,
      0,
    );
    const agent = await startAgent(keys);
    try {
      assert.equal(ssh('ssh-add', [mine], { env: { SSH_AUTH_SOCK: agent.sock } }).code, 0);
      const env = bare(xdg, { SSH_AUTH_SOCK: agent.sock });
      const r = await runVt(['--as', 'ana', 'init'], { cwd: dir, env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(join(dir, 'vt.yaml'), 'utf8').includes(pubLine(mine)));
      assert.equal(existsSync(join(xdg, 'vt', 'keys', 'ana')), false);
      const id = (await runVt(['project', 'create', 'Churn'], { cwd: dir, env })).stdout.trim();
      const hold = await runVt(['--as', 'ana', 'hold', id, '--json'], { cwd: dir, env });
      assert.equal(hold.code, 0, hold.stderr);
      const log = JSON.parse((await runVt(['audit', 'log', id, '--json'], { cwd: dir })).stdout);
      assert.equal(log.at(-1).payload.proof.method, 'ssh');
    } finally {
      await agent.stop();
    }
  });
});

describeOnBackends('decision commands sign', () => {
  it('with --key, VT_SIGNING_KEY or ssh-agent; unsigned, they are refused with vt keys init and the people: snippet', async () => {
    const f = await signedEngine();
    cleanup.push(f.dir, f.keyDir);
    await f.engine.createProject(
      { id: 'churn', name: 'Churn', workspace: f.dir, train: f.train },
      { actor: 'lead-1' },
    );
    for (const item of ['asked', 'sized']) await f.engine.tick('churn', item, null, { actor: 'lab-1' });
    writeFile(f.dir, 'docs/brief.md', '# Brief\n');
    await f.engine.addArtifact('churn', 'brief', undefined, { actor: 'lab-1' });
    const note = await new Tickets(f.engine).addContext(
      'churn',
      { kind: 'note', text: 'call Priya Nair on +44 20 7946 0958' },
      { actor: 'lab-1' },
    );
    const noteSeq = String(note.events[0]!.seq);
    await f.store.close();
    const xdg = temp('vt-cli-xdg-');
    const run = (args: string[], extra: Record<string, string> = {}) =>
      runVt(args, { cwd: f.dir, env: bare(xdg, extra) });
    const none = await run(['--as', 'lead-2', 'approve', 'churn']);
    assert.equal(none.code, 4, none.stderr);
    assert.match(none.stderr, /train mini requires signed decisions, and no key to sign as lead-2/);
    assert.match(none.stderr, /vt keys init --name lead-2/);
    assert.match(none.stderr, /people:\n {4}lead-2:\n {6}roles: \[lead\]\n {6}keys:/);
    // Another person's key named with --key: refused before anything is sent to the engine.
    const wrong = await run(['--as', 'lead-2', 'approve', 'churn', '--key', f.keys.lead1!]);
    assert.equal(wrong.code, 4);
    assert.match(wrong.stderr, /listed for lead-1, not for lead-2/);
    const ok = await run(['--as', 'lead-2', 'approve', 'churn', '--key', f.keys.lead2!, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).signed, true);
    assert.match(ok.stderr, /approved triage as lead-2 \(signed with SHA256:/);
    const held = await run(['--as', 'lead-1', 'hold', 'churn'], { VT_SIGNING_KEY: f.keys.lead1! });
    assert.equal(held.code, 0, held.stderr);
    const agent = await startAgent(f.keyDir);
    try {
      assert.equal(ssh('ssh-add', [f.keys.lead1!], { env: { SSH_AUTH_SOCK: agent.sock } }).code, 0);
      const resumed = await run(['--as', 'lead-1', 'resume', 'churn'], { SSH_AUTH_SOCK: agent.sock });
      assert.equal(resumed.code, 0, resumed.stderr);
    } finally {
      await agent.stop();
    }
    // vt project upgrade is a decision too: signed with the key of the train the project pinned.
    writeFileSync(
      join(f.dir, 'vt.yaml'),
      readFileSync(join(f.dir, 'vt.yaml'), 'utf8').replace('name: Ship', 'name: Shipping'),
    );
    const up = await run([
      '--as',
      'lead-1',
      'project',
      'upgrade',
      'churn',
      '--reason',
      'renamed',
      '--key',
      f.keys.lead1!,
    ]);
    assert.equal(up.code, 0, up.stderr);
    // vt audit erase is a decision too: refused unsigned, recorded signed.
    const erase = [
      '--as',
      'lead-1',
      'audit',
      'erase',
      'churn',
      noteSeq,
      '--reason',
      'a phone number',
      '--yes',
    ];
    const unsignedErase = await run(erase);
    assert.equal(unsignedErase.code, 4, unsignedErase.stderr);
    assert.match(unsignedErase.stderr, /requires signed decisions/);
    const erased = await run([...erase, '--key', f.keys.lead1!]);
    assert.equal(erased.code, 0, erased.stderr);
    const audit = await run(['audit', 'verify', '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    const d = JSON.parse(audit.stdout).decisions;
    assert.deepEqual([d.checked, d.signed, d.problems], [5, 5, []]);
    // The documented check, with OpenSSH alone: the recorded approval's bytes and signature.
    const log = JSON.parse((await run(['audit', 'log', 'churn', '--json'])).stdout) as {
      seq: number;
      type: string;
    }[];
    const seq = log.find((e) => e.type === 'approval.recorded')!.seq;
    const out = join(f.keyDir, 'decision');
    const wrote = await run(['audit', 'decision', 'churn', String(seq), '--out', out]);
    assert.equal(wrote.code, 0, wrote.stderr);
    const signers = await run(['keys', 'allowed-signers', '--project', 'churn']);
    writeFileSync(join(f.keyDir, 'allowed_signers'), signers.stdout);
    const v = sshVerify(
      join(f.keyDir, 'allowed_signers'),
      'lead-2',
      `${out}.sig`,
      readFileSync(`${out}.json`),
    );
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Good "vt" signature for lead-2/);
    assert.match(readFileSync(`${out}.json`, 'utf8'), /^\{"actor":"lead-2","decision":"approve",/);
    const help = await run(['approve', '--help']);
    assert.match(help.stdout, /--key <file>/);
    assert.match(help.stdout, /Examples:[\s\S]*vt approve churn --key/);
  });
});

/** Write an event straight into the store, as an attacker who owns the database would. */
async function forge(target: string, project: string, type: string, actor: string, payload: unknown) {
  const raw = await tamperable(target);
  try {
    const { seq } = await appendOutsideVt(raw, project, { type, actor, payload });
    // The forger extends the store's Merkle log too (else the next append stops at the event added
    // outside vt): the signatures alone must give the forgery away.
    await rebuildLogTables(raw);
    return seq;
  } finally {
    await raw.close();
  }
}

describeOnBackends('a forged approval', () => {
  it('inserted with a correct chain hash fails vt audit verify (naming it) and passes no approval gate', async () => {
    const f = await signedEngine();
    cleanup.push(f.dir, f.keyDir);
    const lab = { actor: 'lab-1' };
    const digests: Record<string, string> = {};
    for (const id of ['churn', 'beta', 'other']) {
      await f.engine.createProject({ id, name: id, workspace: f.dir, train: f.train }, { actor: 'lead-1' });
      for (const item of ['asked', 'sized']) await f.engine.tick(id, item, null, lab);
      writeFile(f.dir, 'docs/brief.md', '# Brief\n');
      await f.engine.addArtifact(id, 'brief', undefined, lab);
      digests[id] = evidenceDigest(currentEvidence(await f.engine.state(id)));
    }
    // A genuine signed approval in "other", whose proof the attacker copies.
    const p = await f.engine.decisionPayload('other', 'lead-2', { kind: 'approve', reason: null });
    const genuine = await f.engine.approve(
      'other',
      { actor: 'lead-2' },
      { proof: await signAs(f.keys.lead2!, p) },
    );
    const stolen = (genuine.events[0]!.payload as { proof: unknown }).proof;
    await f.store.close();
    const approval = (id: string) => ({
      phase: 'triage',
      visit: 1,
      role: 'lead',
      decision: 'approve',
      reason: null,
      digest: digests[id],
    });
    const unsignedSeq = await forge(f.target, 'churn', 'approval.recorded', 'lead-2', approval('churn'));
    const copiedSeq = await forge(f.target, 'beta', 'approval.recorded', 'lead-2', {
      ...approval('beta'),
      proof: stolen,
    });
    const env = bare(temp('vt-forge-xdg-'));
    const verify = await runVt(['audit', 'verify'], { cwd: f.dir, env });
    assert.equal(verify.code, 1, verify.stderr);
    assert.match(
      verify.stderr,
      new RegExp(`event beta#${copiedSeq} does not verify: approve by lead-2: payload mismatch`),
    );
    assert.match(verify.stderr, new RegExp(`churn#${unsignedSeq} approval.recorded by lead-2: unsigned`));
    const json = JSON.parse((await runVt(['audit', 'verify', '--json'], { cwd: f.dir, env })).stdout);
    assert.equal(json.ok, false);
    assert.deepEqual(
      json.decisions.problems.map((x: { project_id: string; seq: number; reason: string }) => [
        x.project_id,
        x.seq,
        x.reason,
      ]),
      [
        ['beta', copiedSeq, 'payload mismatch'],
        ['churn', unsignedSeq, 'unsigned'],
      ],
    );
    // The chain itself verifies: only the signatures give the forgery away.
    assert.match(json.decisions.problems[0].detail, /project is "other", expected "beta"/);
    for (const [id, why] of [
      ['churn', /not counted: lead-2's decision is not signed/],
      ['beta', /not counted: lead-2's signature is for another decision/],
    ] as const) {
      const adv = await runVt(['--as', 'lead-1', 'advance', id, '--json'], { cwd: f.dir, env });
      assert.equal(adv.code, 1, adv.stderr);
      const out = JSON.parse(adv.stdout);
      assert.equal(out.phase, 'triage');
      const go = out.results.find((r: { gate: string }) => r.gate === 'go');
      assert.equal(go.status, 'fail');
      assert.match(go.message, why);
    }
    // The genuine one counts.
    const adv = await runVt(['--as', 'lead-1', 'advance', 'other', '--json'], { cwd: f.dir, env });
    assert.equal(adv.code, 0, adv.stderr);
    assert.equal(JSON.parse(adv.stdout).phase, 'build');
  });
});

describeOnBackends("an agent's session", () => {
  it("reaches no person's key: its executor gets no agent socket or key path, and vt approve from it is refused", {
    timeout: 300_000,
  }, async () => {
    const dir = temp('vt-session-keys-');
    const keyDir = temp('vt-session-keys-k-');
    const keys = makeKeys(keyDir);
    const spy = join(dir, 'spy.mjs');
    const seen = join(dir, 'seen.json');
    // The executor: records what it can see, tries to approve as lead-1 with lead-1's key, then works.
    writeFileSync(
      spy,
      `import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const tries = [[], ['--key', ${JSON.stringify(keys.lead1)}]].map((extra) => {
  const r = spawnSync(process.execPath, [${JSON.stringify(VT_BIN)}, '--as', 'lead-1', 'approve', 'p', ...extra], { encoding: 'utf8' });
  return { code: r.status, err: r.stderr };
});
writeFileSync(${JSON.stringify(seen)}, JSON.stringify({
  SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK ?? null,
  VT_SIGNING_KEY: process.env.VT_SIGNING_KEY ?? null,
  tries,
}));
await import(${JSON.stringify(join(process.cwd(), 'test', 'fixtures', 'step.ts'))});
`,
    );
    const yaml = autoTrainYaml(1, { approvalAt: 1 })
      .replace(`["{node}", "${join(process.cwd(), 'test', 'fixtures', 'step.ts')}"]`, `["{node}", "${spy}"]`)
      .replace(
        'people:\n  lead-1: [lead]\n',
        `people:\n  lead-1:\n    roles: [lead]\n    keys: [{ key: "${pubLine(keys.lead1!)}" }]\ndecisions:\n  signed: required\n`,
      );
    assert.ok(yaml.includes(spy) && yaml.includes('signed: required'));
    writeFileSync(join(dir, 'vt.yaml'), yaml);
    const agent = await startAgent(keyDir);
    try {
      assert.equal(ssh('ssh-add', [keys.lead1!], { env: { SSH_AUTH_SOCK: agent.sock } }).code, 0);
      const env = {
        SSH_AUTH_SOCK: agent.sock,
        VT_SIGNING_KEY: keys.lead1!,
        XDG_CONFIG_HOME: temp('vt-session-xdg-'),
      };
      assert.equal((await runVt(['project', 'create', 'P', '--id', 'p'], { cwd: dir, env })).code, 0);
      assert.equal((await runVt(['issue', 'add', 'work', '--project', 'p'], { cwd: dir, env })).code, 0);
      // Without the sandbox, so the spy can write what it saw beside the project: the environment
      // alone must keep the keys away (test/sandbox.test.ts shows the sandbox hides them as well).
      const run = spawnCollect([VT_BIN, 'autopilot', '--json'], {
        cwd: dir,
        env: { NO_COLOR: '1', VT_SANDBOX: 'none', ...env, ...(await backendEnv(dir)) },
      });
      const end = await run.done;
      assert.equal(end.code, 0, run.err());
      const got = JSON.parse(readFileSync(seen, 'utf8'));
      assert.equal(got.SSH_AUTH_SOCK, null, "the executor does not get the person's agent socket");
      assert.equal(got.VT_SIGNING_KEY, null);
      for (const t of got.tries) {
        assert.equal(t.code, 4, t.err);
        assert.match(t.err, /agent session|session/);
      }
      const log = JSON.parse(
        (await runVt(['audit', 'log', 'p', '--json', '--limit', '200'], { cwd: dir })).stdout,
      );
      assert.equal(log.filter((e: { type: string }) => e.type === 'approval.recorded').length, 0);
      // The person, from their own shell, signs through the agent and the project moves on.
      const approve = await runVt(['--as', 'lead-1', 'approve', 'p'], {
        cwd: dir,
        env: { ...env, VT_SIGNING_KEY: '' },
      });
      assert.equal(approve.code, 0, approve.stderr);
    } finally {
      await agent.stop();
    }
  });
});
