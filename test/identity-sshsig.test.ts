import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  formatOpenSshPrivateKey,
  generateEd25519,
  parseOpenSshPrivateKey,
} from '../src/identity/key-file.ts';
import { keySigner } from '../src/identity/keys.ts';
import { fingerprint, formatPublicKey, parsePublicKeyLine } from '../src/identity/public-key.ts';
import { armor, dearmor, sshsigSign, sshsigVerify } from '../src/identity/sshsig.ts';
import { tempDir } from './helpers.ts';
import { pubLine, ssh, sshKeygenKey } from './identity-helpers.ts';

const dir = tempDir('vt-sshsig-');
after(() => rmSync(dir, { recursive: true, force: true }));

const message = Buffer.from('{"decision":"approve","project":"churn"}');

function allowedSigners(principal: string, line: string, name = 'allowed'): string {
  const path = join(dir, name);
  writeFileSync(path, `${principal} ${line}\n`);
  return path;
}

describe('SSHSIG interoperates with ssh-keygen -Y', () => {
  it('a key vt writes is an OpenSSH key: ssh-keygen reads it, with the same public key and fingerprint', () => {
    const k = generateEd25519('alice@vt');
    const path = join(dir, 'vt-made');
    writeFileSync(path, formatOpenSshPrivateKey(k), { mode: 0o600 });
    const derived = ssh('ssh-keygen', ['-y', '-f', path]);
    assert.equal(derived.code, 0, derived.stderr);
    assert.equal(derived.stdout.trim(), formatPublicKey(k.publicKey));
    writeFileSync(`${path}.pub`, `${formatPublicKey(k.publicKey)}\n`);
    const fp = ssh('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`]);
    assert.equal(fp.stdout.split(' ')[1], fingerprint(k.publicKey));
    // And vt reads back what it wrote.
    assert.ok(
      parseOpenSshPrivateKey(readFileSync(path, 'utf8'), path).publicKey.blob.equals(k.publicKey.blob),
    );
  });

  it('a key ssh-keygen makes is read by vt, with the fingerprint ssh-keygen -l prints', () => {
    const path = sshKeygenKey(dir, 'kg-ed');
    const k = parseOpenSshPrivateKey(readFileSync(path, 'utf8'), path);
    assert.equal(formatPublicKey(k.publicKey), pubLine(path));
    const fp = ssh('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`]).stdout.split(' ')[1];
    assert.equal(fingerprint(k.publicKey), fp);
  });

  it('vt signs byte for byte what ssh-keygen -Y sign writes (Ed25519 signatures are deterministic)', async () => {
    const path = sshKeygenKey(dir, 'det');
    const msgFile = join(dir, 'det.msg');
    writeFileSync(msgFile, message);
    const r = ssh('ssh-keygen', ['-Y', 'sign', '-f', path, '-n', 'vt', msgFile]);
    assert.equal(r.code, 0, r.stderr);
    const theirs = readFileSync(`${msgFile}.sig`, 'utf8');
    const ours = await sshsigSign(
      message,
      keySigner(parseOpenSshPrivateKey(readFileSync(path, 'utf8'), path), 'file', path),
      'vt',
    );
    assert.equal(ours, theirs);
  });

  it('a vt signature verifies with ssh-keygen -Y verify; another principal or namespace does not', async () => {
    const k = generateEd25519('alice@vt');
    const sig = await sshsigSign(message, keySigner(k, 'vt', 'mem'), 'vt');
    const sigFile = join(dir, 'vt.sig');
    writeFileSync(sigFile, sig);
    const signers = allowedSigners('alice', formatPublicKey(k.publicKey));
    const ok = ssh('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'alice', '-n', 'vt', '-s', sigFile], {
      input: message,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Good "vt" signature for alice with ED25519 key SHA256:/);
    const otherNs = ssh(
      'ssh-keygen',
      ['-Y', 'verify', '-f', signers, '-I', 'alice', '-n', 'git', '-s', sigFile],
      {
        input: message,
      },
    );
    assert.notEqual(otherNs.code, 0);
    const otherMsg = ssh(
      'ssh-keygen',
      ['-Y', 'verify', '-f', signers, '-I', 'alice', '-n', 'vt', '-s', sigFile],
      {
        input: Buffer.concat([message, Buffer.from(' ')]),
      },
    );
    assert.notEqual(otherMsg.code, 0);
  });

  for (const type of ['ed25519', 'ecdsa-256', 'ecdsa-384', 'ecdsa-521', 'rsa-3072'] as const) {
    it(`ssh-keygen -Y sign with ${type} verifies in vt; a changed message or namespace does not`, () => {
      const path = sshKeygenKey(dir, `kg-${type}`, type);
      const msgFile = join(dir, `${type}.msg`);
      writeFileSync(msgFile, message);
      const r = ssh('ssh-keygen', ['-Y', 'sign', '-f', path, '-n', 'vt', msgFile]);
      assert.equal(r.code, 0, r.stderr);
      const sig = readFileSync(`${msgFile}.sig`, 'utf8');
      const v = sshsigVerify(sig, message, 'vt');
      assert.ok(v.ok, v.ok ? '' : v.reason);
      assert.equal(formatPublicKey(v.publicKey, ''), formatPublicKey(parsePublicKeyLine(pubLine(path)), ''));
      const bad = sshsigVerify(sig, Buffer.from('{"decision":"reject","project":"churn"}'), 'vt');
      assert.equal(bad.ok, false);
      const ns = sshsigVerify(sig, message, 'git');
      assert.deepEqual(ns.ok ? null : ns.reason, 'signed in namespace "vt", not "git"');
    });
  }

  it('a git commit-style signature (namespace "git") is not a vt signature', () => {
    const path = sshKeygenKey(dir, 'git-ns');
    const msgFile = join(dir, 'git.msg');
    writeFileSync(msgFile, message);
    assert.equal(ssh('ssh-keygen', ['-Y', 'sign', '-f', path, '-n', 'git', msgFile]).code, 0);
    const v = sshsigVerify(readFileSync(`${msgFile}.sig`, 'utf8'), message, 'vt');
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /namespace "git", not "vt"/);
  });

  it('an RSA key under 2048 bits is refused as too weak', () => {
    const path = sshKeygenKey(dir, 'weak', 'rsa-1024');
    assert.throws(() => parsePublicKeyLine(pubLine(path)), /1024 bits is too weak/);
    const msgFile = join(dir, 'weak.msg');
    writeFileSync(msgFile, message);
    assert.equal(ssh('ssh-keygen', ['-Y', 'sign', '-f', path, '-n', 'vt', msgFile]).code, 0);
    const v = sshsigVerify(readFileSync(`${msgFile}.sig`, 'utf8'), message, 'vt');
    assert.equal(v.ok, false);
    assert.match(v.ok ? '' : v.reason, /too weak/);
  });
});

describe('key files: what vt refuses, and how it says so', () => {
  it('a passphrase-protected key is refused with the way out: ssh-agent', () => {
    const path = sshKeygenKey(dir, 'locked', 'ed25519', 'correct horse');
    assert.throws(
      () => parseOpenSshPrivateKey(readFileSync(path, 'utf8'), path),
      (e: Error & { hint?: string }) =>
        /protected by a passphrase/.test(e.message) && /ssh-add/.test(e.hint ?? ''),
    );
  });

  it('an RSA or ECDSA key file is refused for signing, pointing at ssh-agent', () => {
    for (const type of ['rsa-3072', 'ecdsa-256'] as const) {
      const path = sshKeygenKey(dir, `file-${type}`, type);
      assert.throws(
        () => parseOpenSshPrivateKey(readFileSync(path, 'utf8'), path),
        (e: Error & { hint?: string }) =>
          /ssh-ed25519 keys only/.test(e.message) && /ssh-add/.test(e.hint ?? ''),
      );
    }
  });

  it('a public key, a PEM key or junk given as a private key file is refused by name', () => {
    const path = sshKeygenKey(dir, 'pem');
    assert.throws(() => parseOpenSshPrivateKey(pubLine(path), 'x.pub'), /is a public key/);
    assert.throws(
      () => parseOpenSshPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'k.pem'),
      /PEM key, not an OpenSSH one/,
    );
    assert.throws(() => parseOpenSshPrivateKey('hello', 'junk'), /not an OpenSSH private key/);
  });

  it('a key file whose public half was swapped for another key is refused', () => {
    const a = generateEd25519('a');
    const b = generateEd25519('b');
    const text = formatOpenSshPrivateKey(a);
    const blob = Buffer.from(text.split('\n').slice(1, -2).join(''), 'base64');
    const pa = a.publicKey.blob.subarray(19);
    const pb = b.publicKey.blob.subarray(19);
    let doctored = Buffer.from(blob);
    let at = doctored.indexOf(pa);
    while (at >= 0) {
      pb.copy(doctored, at);
      at = doctored.indexOf(pa);
    }
    doctored = Buffer.from(doctored);
    assert.throws(
      () =>
        parseOpenSshPrivateKey(
          `-----BEGIN OPENSSH PRIVATE KEY-----\n${doctored.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`,
          'swapped',
        ),
      /damaged|disagree|wrong sizes/,
    );
  });

  it('armor: only the canonical text of a signature is read', async () => {
    const sig = await sshsigSign(message, keySigner(generateEd25519('x'), 'vt', 'mem'), 'vt');
    const blob = dearmor(sig)!;
    assert.equal(armor(blob), sig);
    assert.equal(dearmor(sig.replace('-----BEGIN SSH SIGNATURE-----', '-----BEGIN SSH SIGNATUR-----')), null);
    assert.equal(dearmor(sig.replace('-----END SSH SIGNATURE-----', '')), null);
    assert.ok(dearmor(sig.replace(/\n/g, '\r\n')));
  });
});
