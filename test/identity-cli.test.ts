import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ringHere } from '../src/cli/commands/keys.ts';
import { CliContext } from '../src/cli/context.ts';
import type { Io } from '../src/cli/output.ts';
import { signHere } from '../src/cli/signing.ts';
import type { VtError } from '../src/errors.ts';
import {
  type DecisionPayload,
  decisionMessage,
  decisionPayload,
  signDecision,
  verifyDecision,
} from '../src/identity/decisions.ts';
import { keySigner, withoutSigningEnv } from '../src/identity/keys.ts';
import { loadKeyFile } from '../src/identity/vt-keys.ts';
import { MINI, runVt, tempDir } from './helpers.ts';
import { pubLine, ssh, sshKeygenKey, startAgent } from './identity-helpers.ts';

const dir = tempDir('vt-keys-cli-');
after(() => rmSync(dir, { recursive: true, force: true }));

const home = join(dir, 'home');
const xdg = join(home, '.config');
mkdirSync(home, { recursive: true });
/** Every run gets this HOME and no agent unless a test adds one. */
const env = (extra: Record<string, string> = {}) => ({
  HOME: home,
  XDG_CONFIG_HOME: xdg,
  SSH_AUTH_SOCK: '',
  VT_SIGNING_KEY: '',
  ...extra,
});
const work = join(dir, 'work');
mkdirSync(work);
const mini = readFileSync(MINI, 'utf8');
const PEOPLE = /^people:\n(?: {2}.*\n)+/m;

describe('vt keys init', () => {
  it('prints the public key on stdout only, and writes an OpenSSH key (0600 in a 0700 folder) ssh-keygen reads', async () => {
    const r = await runVt(['keys', 'init', '--name', 'alice'], { cwd: work, env: env() });
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.trim();
    assert.match(line, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ alice@vt$/);
    assert.equal(r.stdout.split('\n').length, 2, 'one line on stdout');
    const path = join(xdg, 'vt', 'keys', 'alice');
    assert.match(r.stderr, new RegExp(`made ${path}`));
    assert.match(r.stderr, /people:\n\s+alice:\n\s+roles: \[\][^\n]*\n\s+keys:\n\s+- key: "ssh-ed25519 /);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(xdg, 'vt', 'keys')).mode & 0o777, 0o700);
    const derived = ssh('ssh-keygen', ['-y', '-f', path]);
    assert.equal(derived.code, 0, derived.stderr);
    assert.equal(derived.stdout.trim(), line);
    assert.equal(readFileSync(`${path}.pub`, 'utf8').trim(), line);
  });

  it('never overwrites a key', async () => {
    const path = join(xdg, 'vt', 'keys', 'alice');
    const before = readFileSync(path, 'utf8');
    const r = await runVt(['keys', 'init', '--name', 'alice'], { cwd: work, env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /already exists/);
    assert.equal(readFileSync(path, 'utf8'), before);
  });

  it('refuses a name that would leave the key folder', async () => {
    for (const name of ['../evil', 'a/b', '.hidden']) {
      const r = await runVt(['keys', 'init', '--name', name], { cwd: work, env: env() });
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    }
    assert.equal(existsSync(join(xdg, 'vt', 'evil')), false);
    assert.equal(existsSync(join(xdg, 'vt', 'keys', 'a')), false);
  });

  it('refuses to make a key inside a vt workspace (where an agent could read it)', async () => {
    const ws = join(dir, 'ws');
    mkdirSync(ws);
    writeFileSync(join(ws, 'vt.yaml'), mini);
    const r = await runVt(['keys', 'init', '--name', 'carol'], {
      cwd: ws,
      env: env({ XDG_CONFIG_HOME: join(ws, '.config') }),
    });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /inside the vt workspace/);
    assert.equal(existsSync(join(ws, '.config')), false);
  });

  it('names the roles the train already gives that name', async () => {
    const ws = join(dir, 'ws-roles');
    mkdirSync(ws);
    writeFileSync(join(ws, 'vt.yaml'), mini);
    const r = await runVt(['keys', 'init', '--name', 'lead-1'], { cwd: ws, env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /lead-1:\n\s+roles: \[lead, reviewer\]\n/);
  });
});

describe('vt whoami', () => {
  const alicePub = () => readFileSync(join(xdg, 'vt', 'keys', 'alice.pub'), 'utf8').trim();
  const project = join(dir, 'project');

  it('says which key signs and that the train lists it for you, until when', async () => {
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, 'vt.yaml'),
      mini.replace(
        PEOPLE,
        `people:\n  alice:\n    roles: [lead]\n    keys: [{ key: "${alicePub()}", valid_before: "2099-01-01T00:00:00Z" }]\n  bob: [reviewer]\n`,
      ),
    );
    const r = await runVt(['--as', 'alice', 'whoami', '--json'], { cwd: project, env: env() });
    assert.equal(r.code, 0, r.stderr);
    const id = JSON.parse(r.stdout);
    assert.equal(id.actor, 'alice');
    assert.equal(id.actor_from, '--as');
    assert.equal(id.signer.source, 'vt');
    assert.equal(id.signer.public_key, alicePub());
    assert.equal(id.listing.status, 'valid');
    assert.equal(id.listing.valid_before, '2099-01-01T00:00:00.000Z');
    assert.match(id.listing.source, /people\.alice\.keys\[0\]/);
    const text = await runVt(['whoami'], { cwd: project, env: env({ VT_ACTOR: 'alice' }) });
    assert.match(text.stdout, /^alice\t\(from VT_ACTOR: a claim/);
    assert.match(text.stdout, /train\t✓ valid until 2099-01-01T00:00:00.000Z/);
  });

  it("claiming another name does not borrow their key: bob with alice's key is not listed", async () => {
    const r = await runVt(['--as', 'bob', 'whoami', '--key', join(xdg, 'vt', 'keys', 'alice'), '--json'], {
      cwd: project,
      env: env(),
    });
    const id = JSON.parse(r.stdout);
    assert.equal(id.signer.source, 'file');
    assert.equal(id.listing, null);
    assert.deepEqual(id.also_listed_for, ['alice']);
    const text = await runVt(['--as', 'bob', 'whoami', '--key', join(xdg, 'vt', 'keys', 'alice')], {
      cwd: project,
      env: env(),
    });
    assert.match(text.stdout, /does not list this key for bob \(it lists it for alice\)/);
    assert.match(text.stderr, /list it under people:/);
  });

  it('with no key anywhere, says so and how to make one', async () => {
    const r = await runVt(['--as', 'dora', 'whoami'], { cwd: project, env: env() });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /key\t✗ none: .*no vt key at/);
    assert.match(r.stderr, /vt keys init --name dora/);
  });

  it('an unreadable --key is a clear error', async () => {
    const r = await runVt(['--as', 'alice', 'whoami', '--key', join(dir, 'nope')], {
      cwd: project,
      env: env(),
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read the signing key/);
  });
});

describe('vt keys list and allowed-signers', () => {
  it('lists agent keys, ~/.ssh keys (saying which vt can sign with) and vt keys, with whom the train lists each for', async () => {
    const ssh_ = join(home, '.ssh');
    mkdirSync(ssh_, { recursive: true });
    const plain = sshKeygenKey(ssh_, 'id_ed25519');
    sshKeygenKey(ssh_, 'id_locked', 'ed25519', 'secret words');
    sshKeygenKey(ssh_, 'id_ecdsa', 'ecdsa-256');
    const agent = await startAgent(dir);
    try {
      assert.equal(
        ssh('ssh-add', ['-q', join(ssh_, 'id_ecdsa')], { env: { SSH_AUTH_SOCK: agent.sock } }).code,
        0,
      );
      const project = join(dir, 'list-project');
      mkdirSync(project);
      writeFileSync(
        join(project, 'vt.yaml'),
        mini.replace(
          PEOPLE,
          `people:\n  erin:\n    roles: [lead]\n    keys: [{ key: "${pubLine(plain)}" }]\n`,
        ),
      );
      const r = await runVt(['keys', 'list', '--json'], {
        cwd: project,
        env: env({ SSH_AUTH_SOCK: agent.sock }),
      });
      assert.equal(r.code, 0, r.stderr);
      const keys = JSON.parse(r.stdout) as {
        source: string;
        comment: string;
        signs: string;
        listed_for: { person: string }[];
      }[];
      const by = (source: string, comment: string) =>
        keys.find((k) => k.source === source && k.comment === comment);
      assert.equal(by('agent', 'id_ecdsa@test')?.signs, 'yes');
      assert.equal(by('file', 'id_ecdsa@test')?.signs, 'yes (through ssh-agent)');
      assert.equal(by('file', 'id_ed25519@test')?.signs, 'yes');
      assert.deepEqual(
        by('file', 'id_ed25519@test')?.listed_for.map((l) => l.person),
        ['erin'],
      );
      assert.match(by('file', 'id_locked@test')?.signs ?? '', /passphrase.*use ssh-agent/);
      assert.equal(by('vt', 'alice@vt')?.signs, 'yes');
      assert.ok(!r.stdout.includes('PRIVATE KEY'), 'no private key material on stdout');
    } finally {
      await agent.stop();
    }
  });

  it("exports the train's keys as allowed_signers that ssh-keygen verifies a vt-signed decision with", async () => {
    const project = join(dir, 'project');
    const r = await runVt(['keys', 'allowed-signers'], { cwd: project, env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^alice namespaces="vt",valid-before="20990101000000Z" ssh-ed25519 /);
    writeFileSync(join(dir, 'exported'), r.stdout);
    const key = loadKeyFile(join(xdg, 'vt', 'keys', 'alice'));
    const p: DecisionPayload = {
      format: 'vt-decision/1',
      project: 'churn',
      phase: 'triage',
      visit: 1,
      decision: 'approve',
      actor: 'alice',
      evidence_digest: null,
      time: new Date().toISOString(),
      head: { seq: 3, hash: 'c'.repeat(64) },
    };
    const signed = await signDecision(p, keySigner(key, 'vt', 'test'));
    writeFileSync(join(dir, 'decision.sig'), signed.signature);
    const v = ssh(
      'ssh-keygen',
      [
        '-Y',
        'verify',
        '-f',
        join(dir, 'exported'),
        '-I',
        'alice',
        '-n',
        'vt',
        '-s',
        join(dir, 'decision.sig'),
      ],
      {
        input: decisionMessage(p),
      },
    );
    assert.equal(v.code, 0, v.stderr);
    const asBob = ssh(
      'ssh-keygen',
      ['-Y', 'verify', '-f', join(dir, 'exported'), '-I', 'bob', '-n', 'vt', '-s', join(dir, 'decision.sig')],
      {
        input: decisionMessage(p),
      },
    );
    assert.notEqual(asBob.code, 0);
  });

  it('every command has help with an example', async () => {
    for (const cmd of [['keys', 'init'], ['keys', 'list'], ['keys', 'allowed-signers'], ['whoami']]) {
      const r = await runVt([...cmd, '--help'], { cwd: work, env: env() });
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Examples:\n\s+vt /, cmd.join(' '));
    }
  });
});

describe('signing at the CLI, for the decision commands', () => {
  const io = (extra: Record<string, string> = {}): Io => ({
    out: () => {},
    err: () => {},
    isTTY: false,
    env: { ...env(), ...extra },
  });
  const project = join(dir, 'project');
  const base = {
    project: 'churn',
    phase: 'triage',
    visit: 1,
    decision: 'approve' as const,
    evidenceDigest: 'd'.repeat(64),
    time: new Date(),
    head: { seq: 2, hash: 'e'.repeat(64) },
  };

  it('signHere signs with the listed key, and the result verifies', async () => {
    const ctx = new CliContext(io(), { dir: project, as: 'alice' });
    const signed = await signHere(ctx, decisionPayload({ ...base, actor: 'alice' }, { gate: 'go' }));
    assert.equal(signed.signer, 'alice');
    assert.equal(signed.payload.gate, 'go');
    const { ring } = await ringHere(ctx);
    assert.ok(verifyDecision(signed, ring!).ok);
  });

  it('signHere refuses at once when the train does not list the key for the signer', async () => {
    const ctx = new CliContext(io(), { dir: project, as: 'bob' });
    await assert.rejects(
      signHere(ctx, decisionPayload({ ...base, actor: 'bob' }), join(xdg, 'vt', 'keys', 'alice')),
      (e: VtError) =>
        e.code === 'NOT_PERMITTED' && /unknown key/.test(e.message) && /people:/.test(e.hint ?? ''),
    );
  });

  it("inside an agent's session nothing signs, and the processes an agent runs get no key variables", async () => {
    const ctx = new CliContext(io({ VT_SESSION: 's-1' }), { dir: project, as: 'alice' });
    await assert.rejects(
      signHere(ctx, decisionPayload({ ...base, actor: 'alice' })),
      (e: VtError) => e.code === 'NOT_PERMITTED',
    );
    const r = await runVt(['--as', 'alice', 'whoami', '--json'], {
      cwd: project,
      env: env({ VT_SESSION: 's-1' }),
    });
    assert.equal(JSON.parse(r.stdout).signer, null);
    assert.deepEqual(
      Object.keys(
        withoutSigningEnv({ SSH_AUTH_SOCK: '/s', SSH_AGENT_PID: '1', VT_SIGNING_KEY: '/k', PATH: '/bin' }),
      ),
      ['PATH'],
    );
  });

  it('a decision field may not shadow the payload’s own', () => {
    assert.throws(() => decisionPayload({ ...base, actor: 'alice' }, { actor: 'mallory' }), /shadow/);
    assert.throws(() => decisionPayload({ ...base, actor: 'alice', visit: 0 }), /visit/);
  });
});
