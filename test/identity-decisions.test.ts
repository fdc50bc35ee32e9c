import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '../src/canonical.ts';
import { rolesOf } from '../src/engine/core.ts';
import { VtError } from '../src/errors.ts';
import {
  type DecisionPayload,
  decisionMessage,
  type SignedDecision,
  signDecision,
  verifyDecision,
} from '../src/identity/decisions.ts';
import { generateEd25519 } from '../src/identity/key-file.ts';
import { chooseSigner, keySigner } from '../src/identity/keys.ts';
import { keysValidAt, ringToAllowedSigners } from '../src/identity/people.ts';
import { fingerprint, formatPublicKey, parsePublicKeyLine } from '../src/identity/public-key.ts';
import { armor, dearmor, sshsigVerify } from '../src/identity/sshsig.ts';
import { keyRingForTrain } from '../src/identity/train-ring.ts';
import { lintTrain } from '../src/train/lint.ts';
import { parseTrain } from '../src/train/loader.ts';
import { TrainSchema } from '../src/train/schema.ts';
import { MINI, tempDir } from './helpers.ts';
import { pubLine, ssh, sshKeygenKey, startAgent } from './identity-helpers.ts';

const dir = tempDir('vt-decisions-');
after(() => rmSync(dir, { recursive: true, force: true }));

const mini = readFileSync(MINI, 'utf8');
const PEOPLE = /^people:\n(?: {2}.*\n)+/m;
const withPeople = (block: string) => mini.replace(PEOPLE, block);

const alice1 = generateEd25519('alice-old');
const alice2 = generateEd25519('alice-new');
const bob = generateEd25519('bob');
const carol = generateEd25519('carol');
const future = generateEd25519('fiona');
const stranger = generateEd25519('mallory');
const dave = sshKeygenKey(dir, 'dave');
const pub = (k: { publicKey: Parameters<typeof formatPublicKey>[0] }) => formatPublicKey(k.publicKey);

const TRAIN = withPeople(`people:
  lead-1:
    roles: [lead, reviewer]
    keys:
      - { key: "${pub(alice1)}", valid_before: "2026-03-31T23:59:59Z" }
      - { key: "${pub(alice2)}", valid_after: "2026-04-01T00:00:00Z" }
  lead-2:
    roles: [lead]
    keys:
      - { key: "${pub(carol)}", revoked_at: "2026-05-01T12:00:00Z" }
  rev-1: [reviewer]
  rev-2:
    roles: [reviewer]
    keys: [{ key: "${pub(future)}", valid_after: "2027-01-01" }]
keys:
  rev-1: [{ key: "${pub(bob)}" }]
signers: allowed_signers
`);
const trainFile = join(dir, 'vt.yaml');
writeFileSync(trainFile, TRAIN);
writeFileSync(join(dir, 'allowed_signers'), `dave@example.com namespaces="vt" ${pubLine(dave)}\n`);
const loaded = parseTrain(TRAIN, trainFile);
const ring = keyRingForTrain(loaded);

function payload(over: Partial<DecisionPayload> = {}): DecisionPayload {
  return {
    format: 'vt-decision/1',
    project: 'churn',
    phase: 'triage',
    visit: 1,
    decision: 'approve',
    actor: 'lead-1',
    evidence_digest: 'a'.repeat(64),
    time: '2026-05-10T09:00:00Z',
    head: { seq: 7, hash: 'b'.repeat(64) },
    gate: 'go',
    ...over,
  };
}
const sign = (p: DecisionPayload, k = alice2) => signDecision(p, keySigner(k, 'vt', 'mem'));

describe('people: keys in the train, compatible with the roles-only form', () => {
  it('a train without keys hashes as it did; roles-only and {roles, keys} forms mean the same', () => {
    assert.equal(
      parseTrain(mini, MINI).hash,
      '6ea2e5becd673b5b9663d8c74bebfaa78cea36e93b89424c6c9d4d5e508e9f90',
    );
    assert.deepEqual(loaded.train.people, {
      'lead-1': ['lead', 'reviewer'],
      'lead-2': ['lead'],
      'rev-1': ['reviewer'],
      'rev-2': ['reviewer'],
    });
    const split = withPeople(`people:
  lead-1: [lead, reviewer]
  lead-2: [lead]
  rev-1: [reviewer]
  rev-2: [reviewer]
keys:
  lead-1:
    - { key: "${pub(alice1)}", valid_before: "2026-03-31T23:59:59Z" }
    - { key: "${pub(alice2)}", valid_after: "2026-04-01T00:00:00Z" }
  lead-2: [{ key: "${pub(carol)}", revoked_at: "2026-05-01T12:00:00Z" }]
  rev-2: [{ key: "${pub(future)}", valid_after: "2027-01-01" }]
  rev-1: [{ key: "${pub(bob)}" }]
signers: allowed_signers
`);
    assert.equal(parseTrain(split, 'split.yaml').hash, loaded.hash);
  });

  it('the engine still reads roles from either form, and vt lint passes the train', () => {
    assert.deepEqual(rolesOf(loaded.train, 'lead-1'), ['lead', 'reviewer']);
    assert.deepEqual(rolesOf(loaded.train, 'rev-1'), ['reviewer']);
    assert.deepEqual(lintTrain(loaded), []);
  });

  it('the validated train parses again to itself (the store keeps and re-reads it)', () => {
    const again = TrainSchema.parse(JSON.parse(canonicalJson(loaded.train)));
    assert.equal(canonicalJson(again), canonicalJson(loaded.train));
  });

  it('bad keys and windows are refused at their line and column', () => {
    const cases: [string, RegExp][] = [
      [
        `  x:\n    roles: [lead]\n    keys: [{ key: "ssh-ed25519 AAAAnotakey" }]\n`,
        /people\.x\.keys\[0\]\.key: a public key line/,
      ],
      [
        `  x:\n    roles: [lead]\n    keys: [{ key: "${pub(bob)}", valid_after: "2026-13-01" }]\n`,
        /valid_after: an ISO 8601/,
      ],
      [
        `  x:\n    roles: [lead]\n    keys: [{ key: "${pub(bob)}", valid_after: "2026-05-01", valid_before: "2026-04-01" }]\n`,
        /valid_before must be after valid_after/,
      ],
      [
        `  x:\n    roles: [lead]\n    keys: [{ key: "${pub(bob)}", valid_after: "20260501" }]\n`,
        /valid_after: an ISO 8601/,
      ],
      [`  x:\n    roles: [lead]\n    keys: [{ key: "${pub(bob)}", note: hi }]\n`, /unknown field "note"/],
      [
        `  x:\n    roles: [lead]\n    keys: [{ key: "${pub(alice1)}" }]\n`,
        /people\.x\.keys\[0\]\.key: this key is also listed for lead-1: one key, one person/,
      ],
      [
        `  x:\n    roles: [lead]\n    keys: [{ key: "ssh-dss AAAAB3NzaC1kc3MAAACBAP" }]\n`,
        /people\.x\.keys\[0\]\.key/,
      ],
    ];
    for (const [person, want] of cases) {
      const text = withPeople(
        `people:\n  lead-1:\n    roles: [lead]\n    keys: [{ key: "${pub(alice1)}" }]\n${person}`,
      );
      assert.throws(
        () => parseTrain(text, 't.yaml'),
        (e: Error) => /t\.yaml:\d+:\d+: /.test(e.message) && want.test(e.message),
        want.source,
      );
    }
  });

  it('which keys were valid for a person at a time: rotation, revocation, future keys, allowed_signers', () => {
    const at = (person: string, t: string) =>
      keysValidAt(ring, person, new Date(t)).map((k) => k.fingerprint);
    assert.deepEqual(at('lead-1', '2026-03-01T00:00:00Z'), [fingerprint(alice1.publicKey)]);
    assert.deepEqual(at('lead-1', '2026-04-02T00:00:00Z'), [fingerprint(alice2.publicKey)]);
    assert.deepEqual(at('lead-2', '2026-05-01T11:59:59Z'), [fingerprint(carol.publicKey)]);
    assert.deepEqual(at('lead-2', '2026-05-01T12:00:00Z'), []);
    assert.deepEqual(at('rev-2', '2026-12-31T23:59:59Z'), []);
    assert.deepEqual(at('rev-2', '2027-01-01T00:00:00Z'), [fingerprint(future.publicKey)]);
    assert.deepEqual(at('dave@example.com', '2026-01-01T00:00:00Z'), [
      fingerprint(parsePublicKeyLine(pubLine(dave))),
    ]);
    assert.deepEqual(at('nobody', '2026-01-01T00:00:00Z'), []);
  });

  it('a signers file that cannot be read is a clear error', () => {
    const t = parseTrain(withPeople('people:\n  a: [lead]\nsigners: missing_signers\n'), join(dir, 'x.yaml'));
    assert.throws(() => keyRingForTrain(t), /names signers: missing_signers, which cannot be read/);
  });
});

describe('signed decisions', () => {
  it('a decision vt signs verifies in vt and with ssh-keygen -Y verify against the train exported as allowed_signers', async () => {
    const signed = await sign(payload());
    const v = verifyDecision(signed, ring);
    assert.ok(v.ok, v.ok ? '' : `${v.reason}: ${v.detail}`);
    assert.equal(signed.key, fingerprint(alice2.publicKey));
    const signers = join(dir, 'exported_signers');
    writeFileSync(signers, ringToAllowedSigners(ring));
    writeFileSync(join(dir, 'd.json'), decisionMessage(signed.payload));
    writeFileSync(join(dir, 'd.json.sig'), signed.signature);
    const r = ssh(
      'ssh-keygen',
      [
        '-Y',
        'verify',
        '-f',
        signers,
        '-I',
        'lead-1',
        '-n',
        'vt',
        '-s',
        join(dir, 'd.json.sig'),
        '-O',
        'verify-time=20260510090000Z',
      ],
      { input: readFileSync(join(dir, 'd.json')) },
    );
    assert.equal(r.code, 0, r.stderr);
    // ...and the export carries the windows: the rotated-out key no longer verifies for its holder.
    const old = await sign(payload(), alice1);
    writeFileSync(join(dir, 'old.sig'), old.signature);
    const r2 = ssh(
      'ssh-keygen',
      [
        '-Y',
        'verify',
        '-f',
        signers,
        '-I',
        'lead-1',
        '-n',
        'vt',
        '-s',
        join(dir, 'old.sig'),
        '-O',
        'verify-time=20260510090000Z',
      ],
      { input: decisionMessage(old.payload) },
    );
    assert.notEqual(r2.code, 0);
    assert.equal(verifyDecision(old, ring).ok, false);
  });

  it('a decision signed with ssh-keygen -Y sign -n vt verifies in vt', () => {
    const p = payload({
      actor: 'dave@example.com',
      decision: 'waive',
      reason: 'known flaky',
      expires_at: '2026-06-01T00:00:00Z',
    });
    const file = join(dir, 'dave.json');
    writeFileSync(file, decisionMessage(p));
    assert.equal(ssh('ssh-keygen', ['-Y', 'sign', '-f', dave, '-n', 'vt', file]).code, 0);
    const signed: SignedDecision = {
      payload: p,
      signature: readFileSync(`${file}.sig`, 'utf8'),
      key: fingerprint(parsePublicKeyLine(pubLine(dave))),
      signer: 'dave@example.com',
    };
    const v = verifyDecision(signed, ring);
    assert.ok(v.ok, v.ok ? '' : `${v.reason}: ${v.detail}`);
    assert.equal(v.listing.source, `${join(dir, 'allowed_signers')}:1`);
  });

  it('a decision signed through a real ssh-agent verifies with ssh-keygen and in vt', async () => {
    const agent = await startAgent(dir);
    try {
      const key = sshKeygenKey(dir, 'agent-lead');
      assert.equal(ssh('ssh-add', ['-q', key], { env: { SSH_AUTH_SOCK: agent.sock } }).code, 0);
      const t = parseTrain(
        withPeople(`people:\n  lead-1:\n    roles: [lead]\n    keys: [{ key: "${pubLine(key)}" }]\n`),
        join(dir, 'agent.yaml'),
      );
      const agentRing = keyRingForTrain(t);
      const { signer } = await chooseSigner({
        person: 'lead-1',
        env: { SSH_AUTH_SOCK: agent.sock, XDG_CONFIG_HOME: join(dir, 'none') },
        cwd: dir,
        ring: agentRing,
      });
      assert.equal(signer?.source, 'agent');
      const signed = await signDecision(payload(), signer!);
      assert.ok(verifyDecision(signed, agentRing).ok);
      const signers = join(dir, 'agent_signers');
      writeFileSync(signers, ringToAllowedSigners(agentRing));
      writeFileSync(join(dir, 'agent.sig'), signed.signature);
      const r = ssh(
        'ssh-keygen',
        ['-Y', 'verify', '-f', signers, '-I', 'lead-1', '-n', 'vt', '-s', join(dir, 'agent.sig')],
        {
          input: decisionMessage(signed.payload),
        },
      );
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await agent.stop();
    }
  });

  it('each way a decision can be wrong is refused with its reason', async () => {
    const expectReason = (s: SignedDecision, reason: string, detail: RegExp, opts = {}) => {
      const v = verifyDecision(s, ring, opts);
      assert.equal(v.ok, false, `${reason}: accepted`);
      if (!v.ok) {
        assert.equal(v.reason, reason, v.detail);
        assert.match(v.detail, detail);
      }
    };
    // Rotated out: alice's first key, used after its valid_before.
    expectReason(await sign(payload(), alice1), 'expired', /valid until 2026-03-31T23:59:59/);
    // Revoked: carol's key, used after revoked_at (even though no window closed).
    expectReason(
      await sign(payload({ actor: 'lead-2' }), carol),
      'revoked',
      /revoked at 2026-05-01T12:00:00/,
    );
    // ... and a backdated payload does not help when the engine checks at the time it records.
    const backdated = await sign(payload({ actor: 'lead-2', time: '2026-04-01T00:00:00Z' }), carol);
    assert.ok(verifyDecision(backdated, ring).ok);
    expectReason(backdated, 'revoked', /revoked/, { at: '2026-05-10T09:00:00Z' });
    // A key valid only from 2027.
    expectReason(await sign(payload({ actor: 'rev-2' }), future), 'not yet valid', /valid from 2027-01-01/);
    // Another person's key: bob's key signing as lead-1.
    expectReason(await sign(payload(), bob), 'unknown key', /listed for rev-1, not for lead-1/);
    // A key nobody holds.
    expectReason(await sign(payload(), stranger), 'unknown key', /no one in the train holds/);
    // A tampered payload: the decision flipped after signing.
    const good = await sign(payload());
    expectReason(
      { ...good, payload: { ...good.payload, decision: 'reject' } },
      'bad signature',
      /does not match/,
    );
    expectReason(
      { ...good, payload: { ...good.payload, evidence_digest: 'c'.repeat(64) } },
      'bad signature',
      /does not match/,
    );
    // Another namespace: the same bytes signed for git (as a commit signature would be).
    const keyFile = sshKeygenKey(dir, 'ns-lead');
    const nsRing = keyRingForTrain(
      parseTrain(
        withPeople(`people:\n  lead-1:\n    roles: [lead]\n    keys: [{ key: "${pubLine(keyFile)}" }]\n`),
        join(dir, 'ns.yaml'),
      ),
    );
    const msg = join(dir, 'ns.json');
    writeFileSync(msg, decisionMessage(payload()));
    assert.equal(ssh('ssh-keygen', ['-Y', 'sign', '-f', keyFile, '-n', 'git', msg]).code, 0);
    const gitSigned: SignedDecision = {
      payload: payload(),
      signature: readFileSync(`${msg}.sig`, 'utf8'),
      key: fingerprint(parsePublicKeyLine(pubLine(keyFile))),
      signer: 'lead-1',
    };
    const v = verifyDecision(gitSigned, nsRing);
    assert.deepEqual(v.ok ? null : [v.reason, v.detail], [
      'bad signature',
      'signed in namespace "git", not "vt"',
    ]);
    // Payload mismatch: a genuine signature over another decision than the one being made.
    expectReason(good, 'payload mismatch', /visit is 1, expected 2/, {
      expect: { project: 'churn', visit: 2 },
    });
    expectReason(good, 'payload mismatch', /head is/, { expect: { head: { seq: 8, hash: 'b'.repeat(64) } } });
    // The record claims another signer, or another key, than the signature shows.
    expectReason(
      { ...good, signer: 'rev-1' },
      'payload mismatch',
      /signed as rev-1, but the payload's actor is lead-1/,
    );
    expectReason({ ...good, key: fingerprint(bob.publicKey) }, 'payload mismatch', /names key/);
    // Not a signature at all.
    expectReason({ ...good, signature: 'hello' }, 'bad signature', /not an armored SSH signature/);
  });

  it('the right checks pass when the expected fields match', async () => {
    const good = await sign(payload());
    const v = verifyDecision(good, ring, {
      expect: { project: 'churn', phase: 'triage', visit: 1, head: { seq: 7, hash: 'b'.repeat(64) } },
    });
    assert.ok(v.ok);
  });

  it('a malformed payload is never signed', async () => {
    await assert.rejects(sign(payload({ decision: 'sudo' as never })), /decision must be one of/);
    await assert.rejects(sign(payload({ time: 'yesterday' })), /time must be/);
    await assert.rejects(sign(payload({ head: { seq: 1, hash: 'short' } })), /head.hash/);
    await assert.rejects(sign(payload({ note: Number.NaN })), /not plain JSON/);
  });
});

describe('properties (fast-check)', () => {
  const json = fc.jsonValue({ maxDepth: 2 }).filter((v) => {
    try {
      canonicalJson(v);
      return true;
    } catch {
      return false;
    }
  });
  const arbPayload = fc
    .record({
      project: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      phase: fc.option(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { nil: null }),
      visit: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: null }),
      decision: fc.constantFrom(
        'approve',
        'reject',
        'waive',
        'done',
        'carry-forward',
        'hold',
        'resume',
        'cancel',
        'upgrade',
        'retire',
        'erase',
      ),
      evidence_digest: fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: null }),
      time: fc
        .date({
          min: new Date('2026-04-02T00:00:00Z'),
          max: new Date('2030-01-01T00:00:00Z'),
          noInvalidDate: true,
        })
        .map((d) => d.toISOString()),
      seq: fc.nat({ max: 1_000_000 }),
      hash: fc.stringMatching(/^[0-9a-f]{64}$/),
      extra: fc.dictionary(fc.stringMatching(/^x_[a-z]{1,8}$/), json, { maxKeys: 3 }),
    })
    .map(
      (r): DecisionPayload => ({
        ...r.extra,
        format: 'vt-decision/1',
        project: r.project,
        phase: r.phase,
        visit: r.visit,
        decision: r.decision,
        actor: 'lead-1',
        evidence_digest: r.evidence_digest,
        time: r.time,
        head: { seq: r.seq, hash: r.hash },
      }),
    );
  const signer = keySigner(alice2, 'vt', 'mem');

  it('sign then verify round-trips for random payloads', async () => {
    await fc.assert(
      fc.asyncProperty(arbPayload, async (p) => {
        const s = await signDecision(p, signer);
        const v = verifyDecision(s, ring);
        return v.ok;
      }),
      { numRuns: 200 },
    );
  });

  it('any single-byte change of the signed payload fails', async () => {
    let parsedMutations = 0;
    await fc.assert(
      fc.asyncProperty(arbPayload, fc.nat(), fc.integer({ min: 1, max: 255 }), async (p, at, delta) => {
        const s = await signDecision(p, signer);
        const bytes = Buffer.from(decisionMessage(p));
        const i = at % bytes.length;
        bytes[i] = (bytes[i]! + delta) & 0xff;
        // The signature never covers the changed bytes...
        if (sshsigVerify(s.signature, bytes, 'vt').ok) return false;
        // ...and when they still read as a payload, that payload does not verify as a decision.
        let changed: DecisionPayload;
        try {
          changed = JSON.parse(bytes.toString('utf8'));
        } catch {
          return true; // not even JSON: nothing to verify
        }
        // A changed byte that decodes to the same payload (a \u escape's hex case) is the same decision.
        // One that is JSON but not plain JSON (1e-199 becoming 1e+199, past 2^53) is no payload at all.
        let same = false;
        try {
          same = canonicalJson(changed as never) === canonicalJson(p);
        } catch (err) {
          if (!(err instanceof VtError) || err.code !== 'BAD_INPUT') throw err;
        }
        if (same) return true;
        parsedMutations++;
        try {
          return verifyDecision({ ...s, payload: changed }, ring).ok === false;
        } catch (err) {
          return err instanceof VtError && err.code === 'BAD_INPUT'; // refused as input: not a decision
        }
      }),
      { numRuns: 300 },
    );
    // Enough mutations must still parse as payloads for the second half of the property to mean something.
    assert.ok(parsedMutations >= 30, `${parsedMutations} of 300 mutations parsed`);
  });

  it('any single-byte change of the signature fails', async () => {
    await fc.assert(
      fc.asyncProperty(arbPayload, fc.nat(), fc.integer({ min: 1, max: 255 }), async (p, at, delta) => {
        const s = await signDecision(p, signer);
        const blob = Buffer.from(dearmor(s.signature)!);
        const i = at % blob.length;
        blob[i] = (blob[i]! + delta) & 0xff;
        return verifyDecision({ ...s, signature: armor(blob) }, ring).ok === false;
      }),
      { numRuns: 300 },
    );
  });
});

before(() => {
  assert.ok(ring.entries.length >= 6);
});
