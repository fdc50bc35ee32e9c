import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentIdentities, agentSign } from '../src/identity/agent.ts';
import { formatAllowedSigner } from '../src/identity/allowed-signers.ts';
import { chooseSigner } from '../src/identity/keys.ts';
import { KeyRing, trainKeyListings } from '../src/identity/people.ts';
import { fingerprint, formatPublicKey, parsePublicKeyLine } from '../src/identity/public-key.ts';
import { sshsigSign, sshsigVerify } from '../src/identity/sshsig.ts';
import { initVtKey } from '../src/identity/vt-keys.ts';
import { tempDir } from './helpers.ts';
import { pubLine, ssh, sshKeygenKey, sshVerify, startAgent } from './identity-helpers.ts';

const dir = tempDir('vt-agent-');
let agent: Awaited<ReturnType<typeof startAgent>>;
const keys: Record<string, string> = {};
const message = Buffer.from('{"decision":"waive"}');

before(async () => {
  agent = await startAgent(dir);
  for (const type of ['ed25519', 'ecdsa-256', 'rsa-3072'] as const) {
    keys[type] = sshKeygenKey(dir, `agent-${type}`, type);
    const r = ssh('ssh-add', ['-q', keys[type]], { env: { SSH_AUTH_SOCK: agent.sock } });
    assert.equal(r.code, 0, r.stderr);
  }
  // A passphrase-protected key, added to the agent the way a person would (the agent holds it unlocked).
  keys.locked = sshKeygenKey(dir, 'agent-locked', 'ed25519', 'hunter22');
  const r = ssh('ssh-add', ['-q', keys.locked], {
    env: {
      SSH_AUTH_SOCK: agent.sock,
      SSH_ASKPASS: writeAskpass('hunter22'),
      SSH_ASKPASS_REQUIRE: 'force',
      DISPLAY: ':0',
    },
  });
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function writeAskpass(secret: string): string {
  const path = join(dir, 'askpass.sh');
  writeFileSync(path, `#!/bin/sh\necho '${secret}'\n`, { mode: 0o700 });
  return path;
}

function verifyWithSshKeygen(
  principal: string,
  pub: string,
  sig: string,
  msg: Buffer,
): { code: number | null; stdout: string; stderr: string } {
  const signers = join(dir, `signers-${principal}`);
  writeFileSync(
    signers,
    `${formatAllowedSigner({ principals: [principal], key: parsePublicKeyLine(pub), namespaces: ['vt'] })}\n`,
  );
  const sigFile = join(dir, `${principal}.sig`);
  writeFileSync(sigFile, sig);
  return sshVerify(signers, principal, sigFile, msg);
}

describe('ssh-agent: vt signs through a real agent', () => {
  it('lists the keys the agent holds, in ssh-add -L order, with their comments', async () => {
    const ids = await agentIdentities(agent.sock);
    const listed = ssh('ssh-add', ['-L'], { env: { SSH_AUTH_SOCK: agent.sock } })
      .stdout.trim()
      .split('\n');
    assert.deepEqual(
      ids.map((i) => formatPublicKey(i.key!)),
      listed,
    );
    assert.deepEqual(
      ids.map((i) => i.comment),
      ['agent-ed25519@test', 'agent-ecdsa-256@test', 'agent-rsa-3072@test', 'agent-locked@test'],
    );
  });

  for (const type of ['ed25519', 'ecdsa-256', 'rsa-3072', 'locked'] as const) {
    it(`an SSHSIG made through the agent with its ${type} key verifies with ssh-keygen -Y verify`, async () => {
      const pub = pubLine(keys[type]!);
      const key = parsePublicKeyLine(pub);
      const sig = await sshsigSign(
        message,
        { publicKey: key, sign: (d) => agentSign(agent.sock, key, d) },
        'vt',
      );
      const r = verifyWithSshKeygen(`p-${type}`, pub, sig, message);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Good "vt" signature/);
      if (type === 'rsa-3072')
        assert.ok(sshsigVerify(sig, message, 'vt').ok, 'rsa-sha2-512, not SHA-1 ssh-rsa');
    });
  }

  it('a key the agent does not hold: the agent refuses, and vt says so', async () => {
    const stranger = parsePublicKeyLine(pubLine(sshKeygenKey(dir, 'stranger')));
    await assert.rejects(agentSign(agent.sock, stranger, message), /refused to sign/);
  });

  it('chooses the agent key the train lists for the person, skipping keys it does not list', async () => {
    const known = pubLine(keys['ecdsa-256']!);
    const ring = new KeyRing(trainKeyListings({ alice: [{ key: known }] }));
    const env = { SSH_AUTH_SOCK: agent.sock, XDG_CONFIG_HOME: join(dir, 'xdg-none') };
    const { signer } = await chooseSigner({ person: 'alice', env, cwd: dir, ring });
    assert.equal(signer?.source, 'agent');
    assert.equal(fingerprint(signer!.publicKey), fingerprint(parsePublicKeyLine(known)));
    const sig = await sshsigSign(message, signer!, 'vt');
    assert.equal(verifyWithSshKeygen('alice', known, sig, message).code, 0);
  });

  it('falls back to the vt key when the agent holds none the train lists; --key wins over both', async () => {
    const xdg = join(dir, 'xdg');
    const vtKey = initVtKey({ XDG_CONFIG_HOME: xdg }, 'bob');
    const ring = new KeyRing(trainKeyListings({ bob: [{ key: formatPublicKey(vtKey.publicKey) }] }));
    const env = { SSH_AUTH_SOCK: agent.sock, XDG_CONFIG_HOME: xdg };
    const chosen = await chooseSigner({ person: 'bob', env, cwd: dir, ring });
    assert.equal(chosen.signer?.source, 'vt');
    assert.match(chosen.notes.join('\n'), /ssh-agent holds 4 key\(s\), none listed for bob/);
    const explicit = await chooseSigner({ person: 'bob', env, cwd: dir, ring, keyFile: keys.ed25519 });
    assert.equal(explicit.signer?.source, 'file');
    // A public key file (as git's user.signingKey) means: the agent holds the private half.
    const viaPub = await chooseSigner({
      person: 'bob',
      env,
      cwd: dir,
      ring,
      keyFile: `${keys['rsa-3072']}.pub`,
    });
    assert.equal(viaPub.signer?.source, 'agent');
    const fromEnv = await chooseSigner({
      person: 'bob',
      env: { ...env, VT_SIGNING_KEY: keys.ed25519! },
      cwd: dir,
      ring,
    });
    assert.equal(fromEnv.signer?.origin, keys.ed25519);
  });

  it('no agent, no vt key: no signer, and the notes say what was looked at', async () => {
    const { signer, notes } = await chooseSigner({
      person: 'carol',
      env: { XDG_CONFIG_HOME: join(dir, 'nothing') },
      cwd: dir,
      ring: null,
    });
    assert.equal(signer, null);
    assert.match(notes.join('\n'), /SSH_AUTH_SOCK is not set/);
    assert.match(notes.join('\n'), /no vt key at/);
  });
});

describe('ssh-agent: a broken or hostile socket is a clear, bounded error', () => {
  it('a socket nobody listens on', async () => {
    await assert.rejects(agentIdentities(join(dir, 'nobody.sock')), /ssh-agent at .*nobody\.sock: ENOENT/);
  });

  for (const [name, reply] of [
    ['a reply claiming 4 GiB', Buffer.from([0xff, 0xff, 0xff, 0xff, 12])],
    [
      'a truncated key list',
      Buffer.concat([Buffer.from([0, 0, 0, 9, 12, 0, 0, 0, 5]), Buffer.from([0, 0, 0, 1])]),
    ],
    ['silence, then hang-up', null],
  ] as const) {
    it(`a fake agent that sends ${name}`, async () => {
      const sock = join(dir, `fake-${name.length}.sock`);
      const server = createServer((c) => {
        c.once('data', () => {
          if (reply) c.end(reply);
          else setTimeout(() => c.end(), 50);
        });
      });
      await new Promise<void>((r) => server.listen(sock, r));
      try {
        await assert.rejects(agentIdentities(sock, 30_000), /ssh-agent at/);
      } finally {
        server.close();
      }
    });
  }

  it('a fake agent that never answers times out', async () => {
    const sock = join(dir, 'mute.sock');
    const held: import('node:net').Socket[] = [];
    const server = createServer((c) => held.push(c));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      await assert.rejects(agentIdentities(sock, 200), /no answer within/);
    } finally {
      for (const c of held) c.destroy();
      server.close();
    }
  });

  it('an agent that answers with a signature by another key is caught before anything is recorded', async () => {
    const mine = parsePublicKeyLine(pubLine(keys.ed25519!));
    const other = parsePublicKeyLine(pubLine(keys.locked!));
    const liar = { publicKey: mine, sign: (d: Uint8Array) => agentSign(agent.sock, other, d) };
    await assert.rejects(sshsigSign(message, liar, 'vt'), /does not verify/);
    assert.ok(readFileSync(keys.ed25519!, 'utf8'));
  });
});
