// Passkeys as a way to sign decisions: vt's own WebAuthn assertion check (node:crypto, offline)
// against @simplewebauthn's as the reference, hostile assertions and CBOR, and bindings of a passkey
// to a person made with their SSH key (by vt and by ssh-keygen -Y sign).
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import fc from 'fast-check';
import { Passkeys } from '../src/api/passkeys.ts';
import { CborError, decodeCbor } from '../src/identity/cbor.ts';
import { type DecisionPayload, decisionPayload } from '../src/identity/decisions.ts';
import { keySigner } from '../src/identity/keys.ts';
import {
  bindingMessage,
  type PasskeyBinding,
  signPasskeyBinding,
  verifyPasskeyBinding,
} from '../src/identity/passkey-binding.ts';
import { keyRingOf } from '../src/identity/people.ts';
import { decisionChallenge, verifyDecisionProof, type WebAuthnProof } from '../src/identity/proof.ts';
import { fingerprint, parsePublicKeyLine } from '../src/identity/public-key.ts';
import { loadKeyFile } from '../src/identity/vt-keys.ts';
import { assertionProblem, PASSKEY_ALGORITHMS, parseCoseKey } from '../src/identity/webauthn.ts';
import { freshEngine, tempDir } from './helpers.ts';
import { pubLine, ssh, sshKeygenKey } from './identity-helpers.ts';
import { describeOnBackends } from './pg.ts';
import { type PasskeyAlg, SoftPasskey } from './webauthn-helpers.ts';

const dir = tempDir('vt-webauthn-');
after(() => rmSync(dir, { recursive: true, force: true }));

const ORIGIN = 'http://localhost:7411';
const RP = 'localhost';
const alice = sshKeygenKey(dir, 'alice');
const bob = sshKeygenKey(dir, 'bob');
const revoked = sshKeygenKey(dir, 'carol');
const ring = keyRingOf({
  keys: {
    alice: [{ key: pubLine(alice) }],
    bob: [{ key: pubLine(bob) }],
    carol: [{ key: pubLine(revoked), revoked_at: '2026-03-01T00:00:00Z' }],
  },
});
const T = Date.parse('2026-02-01T10:00:00Z');
const LATER = Date.parse('2026-04-01T10:00:00Z');

function payload(actor = 'alice', over: Partial<DecisionPayload> = {}): DecisionPayload {
  return {
    ...decisionPayload(
      {
        project: 'churn',
        phase: 'triage',
        visit: 1,
        decision: 'approve',
        actor,
        evidenceDigest: 'e'.repeat(64),
        time: new Date(T),
        head: { seq: 4, hash: 'f'.repeat(64) },
      },
      { role: 'lead', reason: null },
    ),
    ...over,
  } as DecisionPayload;
}

async function bind(pk: SoftPasskey, person: string, keyFile: string, rpId = RP): Promise<PasskeyBinding> {
  return signPasskeyBinding(
    { person, credential_id: pk.credentialId, public_key: pk.publicKey, rp_id: rpId, time: new Date(T) },
    keySigner(loadKeyFile(keyFile), 'file', keyFile),
  );
}

function proofOf(pk: SoftPasskey, p: DecisionPayload, binding: PasskeyBinding, over = {}): WebAuthnProof {
  const r = pk.assert(decisionChallenge(p).toString('base64url'), ORIGIN, over);
  return {
    method: 'webauthn',
    payload: p,
    credential_id: pk.credentialId,
    authenticator_data: r.response.authenticatorData,
    client_data_json: r.response.clientDataJSON,
    signature: r.response.signature,
    passkey: binding,
  };
}

describe('WebAuthn assertions, checked offline', () => {
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as PasskeyAlg[]) {
    it(`${alg}: vt and @simplewebauthn agree that a genuine assertion verifies`, async () => {
      const pk = new SoftPasskey(alg);
      const challenge = decisionChallenge(payload());
      const r = pk.assert(challenge.toString('base64url'), ORIGIN);
      const a = {
        authenticator_data: r.response.authenticatorData,
        client_data_json: r.response.clientDataJSON,
        signature: r.response.signature,
      };
      assert.equal(assertionProblem(a, { publicKey: pk.publicKey, rpId: RP, challenge }), null);
      const ref = await verifyAuthenticationResponse({
        response: r,
        expectedChallenge: challenge.toString('base64url'),
        expectedOrigin: ORIGIN,
        expectedRPID: RP,
        credential: { id: pk.credentialId, publicKey: new Uint8Array(pk.cose), counter: 0 },
        requireUserVerification: true,
      });
      assert.equal(ref.verified, true, 'the reference implementation agrees');
    });
  }

  it('refuses every bent assertion: another challenge, relying party, type, no presence, no verification', () => {
    const pk = new SoftPasskey();
    const challenge = decisionChallenge(payload());
    const c = challenge.toString('base64url');
    const check = (over: Parameters<SoftPasskey['assert']>[2], origin = ORIGIN) => {
      const r = pk.assert(c, origin, over);
      return assertionProblem(
        {
          authenticator_data: r.response.authenticatorData,
          client_data_json: r.response.clientDataJSON,
          signature: r.response.signature,
        },
        { publicKey: pk.publicKey, rpId: RP, challenge },
      );
    };
    assert.match(
      check({ clientChallenge: decisionChallenge(payload('bob')).toString('base64url') })!,
      /another challenge/,
    );
    assert.match(check({ rpId: 'evil.example' })!, /another relying party/);
    assert.match(check({}, 'http://evil.example:7411')!, /origin/);
    assert.match(check({ type: 'webauthn.create' })!, /webauthn\.get/);
    assert.match(check({ flags: 0x04 })!, /not present/);
    assert.match(check({ flags: 0x01 })!, /not verified/);
    assert.equal(check({}), null);
    // Another passkey's public key: a genuine signature, by the wrong key.
    const other = new SoftPasskey();
    const r = pk.assert(c, ORIGIN);
    assert.match(
      assertionProblem(
        {
          authenticator_data: r.response.authenticatorData,
          client_data_json: r.response.clientDataJSON,
          signature: r.response.signature,
        },
        { publicKey: other.publicKey, rpId: RP, challenge },
      )!,
      /does not verify/,
    );
  });

  it('a change of any byte of the authenticator data, client data or signature fails', () => {
    const pk = new SoftPasskey();
    const challenge = decisionChallenge(payload());
    const r = pk.assert(challenge.toString('base64url'), ORIGIN);
    const parts = {
      authenticator_data: Buffer.from(r.response.authenticatorData, 'base64url'),
      client_data_json: Buffer.from(r.response.clientDataJSON, 'base64url'),
      signature: Buffer.from(r.response.signature, 'base64url'),
    };
    let tried = 0;
    for (const field of Object.keys(parts) as (keyof typeof parts)[]) {
      for (let i = 0; i < parts[field].length; i++) {
        const bent = Buffer.from(parts[field]);
        bent[i]! ^= 0x01;
        const a = {
          authenticator_data: parts.authenticator_data.toString('base64url'),
          client_data_json: parts.client_data_json.toString('base64url'),
          signature: parts.signature.toString('base64url'),
          [field]: bent.toString('base64url'),
        };
        // The sign-count bytes are not signed data a verifier may ignore: they are signed too.
        assert.notEqual(
          assertionProblem(a, { publicKey: pk.publicKey, rpId: RP, challenge }),
          null,
          `${field}[${i}]`,
        );
        tried++;
      }
    }
    assert.ok(tried > 150);
  });

  it('CBOR: any byte string decodes to a value or a CborError, never anything else; COSE keys likewise', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeCbor(bytes);
        } catch (err) {
          assert.ok(err instanceof CborError, String(err));
        }
        try {
          parseCoseKey(Buffer.from(bytes).toString('base64url'));
        } catch (err) {
          assert.ok(err instanceof Error);
        }
      }),
      { numRuns: 500, seed: 42 },
    );
    // Hostile shapes: nesting, lengths past the end, duplicate keys, tags, floats.
    for (const hex of [
      '818181818181818181818181',
      '5aFFFFFFFF',
      'a201010101',
      'c11a00000000',
      'f93c00',
      '9f01ff',
    ])
      assert.throws(() => decodeCbor(Buffer.from(hex, 'hex')), CborError, hex);
  });
});

// Registration reads the person's passkeys from the store: SQLite or PostgreSQL.
describeOnBackends('passkey registration', () => {
  it('registration offers only the algorithms vt verifies, whatever the library would offer by default', async () => {
    const f = await freshEngine();
    try {
      const service = new Passkeys(f.store.db, f.store, () => new Date());
      const options = await service.registrationOptions('lead-1', { origin: ORIGIN, rpID: RP });
      assert.deepEqual(
        options.pubKeyCredParams.map((p) => p.alg),
        [...PASSKEY_ALGORITHMS],
      );
      // Every one of them is a key vt can read: a passkey of each kind offered makes a usable key.
      for (const alg of ['ES256', 'EdDSA', 'RS256'] as PasskeyAlg[])
        assert.ok(PASSKEY_ALGORITHMS.includes(parseCoseKey(new SoftPasskey(alg).publicKey).alg));
    } finally {
      await f.store.close();
      rmSync(f.dir, { recursive: true, force: true });
    }
  });
});

describe('a passkey bound to a person with their SSH key', () => {
  it('a decision confirmed with a bound passkey verifies; by anyone else, or after the SSH key is revoked, it does not', async () => {
    const pk = new SoftPasskey();
    const good = proofOf(pk, payload(), await bind(pk, 'alice', alice));
    assert.deepEqual(verifyDecisionProof(good, ring, T).ok, true);
    // Bob binds Alice's passkey to Alice with his own key: not Alice's statement.
    const byBob = proofOf(pk, payload(), await bind(pk, 'alice', bob));
    const v1 = verifyDecisionProof(byBob, ring, T);
    assert.equal(v1.ok, false);
    assert.equal(!v1.ok && v1.reason, 'unknown key');
    // Bob binds it to himself and confirms Alice's decision: the binding names another person.
    const asBob = proofOf(pk, payload(), await bind(pk, 'bob', bob));
    assert.match(JSON.stringify(verifyDecisionProof(asBob, ring, T)), /bound to bob, not to alice/);
    // A binding of another passkey, carried with this one's assertion.
    const other = new SoftPasskey();
    const swapped = { ...good, passkey: await bind(other, 'alice', alice) };
    assert.equal(verifyDecisionProof(swapped, ring, T).ok, false);
    // The assertion is over another decision's payload.
    const moved = { ...good, payload: payload('alice', { visit: 2 }) };
    const v2 = verifyDecisionProof(moved, ring, T);
    assert.equal(!v2.ok && v2.reason, 'bad signature');
    // Carol's key is revoked: her binding stops counting at the revocation, whatever it says of its time.
    const cpk = new SoftPasskey();
    const carol = proofOf(cpk, payload('carol'), await bind(cpk, 'carol', revoked));
    assert.equal(verifyDecisionProof(carol, ring, T).ok, true);
    const v3 = verifyDecisionProof(carol, ring, LATER);
    assert.equal(!v3.ok && v3.reason, 'revoked');
  });

  it("a binding signed with ssh-keygen -Y sign is accepted, and vt's binding verifies with ssh-keygen -Y verify", async () => {
    const pk = new SoftPasskey('EdDSA');
    const made = await bind(pk, 'alice', alice);
    const msg = join(dir, 'binding.json');
    writeFileSync(msg, bindingMessage(made.payload));
    writeFileSync(`${msg}.sig`, made.signature);
    writeFileSync(join(dir, 'allowed'), `alice namespaces="vt" ${pubLine(alice)}\n`);
    const v = ssh(
      'ssh-keygen',
      ['-Y', 'verify', '-f', join(dir, 'allowed'), '-I', 'alice', '-n', 'vt', '-s', `${msg}.sig`],
      {
        input: readFileSync(msg),
      },
    );
    assert.equal(v.code, 0, v.stderr);
    rmSync(`${msg}.sig`);
    const s = ssh('ssh-keygen', ['-Y', 'sign', '-f', alice, '-n', 'vt', msg]);
    assert.equal(s.code, 0, s.stderr);
    const byOpenSsh: PasskeyBinding = {
      payload: made.payload,
      signature: readFileSync(`${msg}.sig`, 'utf8'),
      key: fingerprint(parsePublicKeyLine(pubLine(alice))),
      signer: 'alice',
    };
    assert.equal(verifyPasskeyBinding(byOpenSsh, ring, 'alice', T).ok, true);
    assert.equal(verifyDecisionProof(proofOf(pk, payload(), byOpenSsh), ring, T).ok, true);
  });
});
