import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical.ts';
import {
  type DecisionPayload,
  type DecisionVerdict,
  decisionMessage,
  payloadProblem,
  type SignedDecision,
  signatureVerdict,
} from './decisions.ts';
import { type PasskeyBinding, verifyPasskeyBinding } from './passkey-binding.ts';
import type { KeyRing } from './people.ts';
import { assertionProblem, type WebAuthnAssertion } from './webauthn.ts';

/**
 * A decision proof: how a person signed a decision's payload (decisions.ts). Two ways, one payload:
 *
 * - `ssh`: an SSH signature (ssh-keygen -Y sign -n vt, ssh-agent, a vt key) over the payload's
 *   canonical JSON, by a key the train lists for the person;
 * - `webauthn`: a passkey's assertion in a browser whose challenge is SHA-256 of the payload's
 *   canonical JSON, by a passkey the person bound with their SSH key (passkey-binding.ts).
 *
 * The engine checks a proof before it records a decision and stores it in the decision's event;
 * `vt audit verify` checks every recorded proof again, offline, against the train of that time.
 */

export interface SshProof extends SignedDecision {
  method: 'ssh';
}

export interface WebAuthnProof extends WebAuthnAssertion {
  method: 'webauthn';
  payload: DecisionPayload;
  /** The passkey's credential id, base64url. */
  credential_id: string;
  /** The person's SSH-signed statement that this passkey is theirs. */
  passkey: PasskeyBinding;
}

export type DecisionProof = SshProof | WebAuthnProof;

/** An SSH-signed decision as a proof. */
export function sshProof(signed: SignedDecision): SshProof {
  return {
    method: 'ssh',
    payload: signed.payload,
    signature: signed.signature,
    key: signed.key,
    signer: signed.signer,
  };
}

/** The WebAuthn challenge for a decision: SHA-256 of its canonical JSON (the bytes an SSH signature signs). */
export function decisionChallenge(payload: DecisionPayload): Buffer {
  return createHash('sha256').update(decisionMessage(payload)).digest();
}

const SSH_KEYS = ['method', 'payload', 'signature', 'key', 'signer'];
const WEBAUTHN_KEYS = [
  'method',
  'payload',
  'credential_id',
  'authenticator_data',
  'client_data_json',
  'signature',
  'passkey',
];
const MAX_PROOF = 64 * 1024;

/** Why `x` is not a well-formed proof (so nothing odd reaches an event), or null. */
export function proofProblem(x: unknown): string | null {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return 'the proof is not an object';
  const p = x as Record<string, unknown>;
  const keys = p.method === 'ssh' ? SSH_KEYS : p.method === 'webauthn' ? WEBAUTHN_KEYS : null;
  if (!keys) return 'the proof method must be ssh or webauthn';
  const extra = Object.keys(p).find((k) => !keys.includes(k));
  if (extra) return `the proof has an unexpected field ${extra}`;
  for (const k of keys)
    if (k !== 'payload' && k !== 'passkey' && typeof p[k] !== 'string') return `the proof's ${k} is missing`;
  if (p.method === 'webauthn' && (!p.passkey || typeof p.passkey !== 'object'))
    return 'the passkey is not bound (no binding in the proof)';
  const problem = payloadProblem(p.payload);
  if (problem) return problem;
  let text: string;
  try {
    text = canonicalJson(p);
  } catch (err) {
    return (err as Error).message;
  }
  if (text.length > MAX_PROOF) return `the proof is larger than ${MAX_PROOF} bytes`;
  return null;
}

/**
 * Check who signed a proof's payload: an SSH signature, or a passkey assertion under a binding, by a
 * key the ring lists for the payload's actor and that was valid at `t` (epoch ms; the engine passes
 * its clock, an audit the event's recorded time — never the payload's own time).
 */
export function verifyDecisionProof(proof: DecisionProof, ring: KeyRing, t: number): DecisionVerdict {
  const shape = proofProblem(proof);
  if (shape) return { ok: false, reason: 'payload mismatch', detail: shape };
  const p = proof.payload;
  if (proof.method === 'ssh') {
    if (proof.signer !== p.actor)
      return {
        ok: false,
        reason: 'payload mismatch',
        detail: `signed as ${proof.signer}, but the payload's actor is ${p.actor}`,
      };
    return signatureVerdict(proof.signature, decisionMessage(p), proof.key, p.actor, ring, t);
  }
  const bound = verifyPasskeyBinding(proof.passkey, ring, p.actor, t);
  if (!bound.ok) return bound;
  if (proof.passkey.payload.credential_id !== proof.credential_id)
    return {
      ok: false,
      reason: 'payload mismatch',
      detail: `the binding is for passkey ${proof.passkey.payload.credential_id}, not ${proof.credential_id}`,
    };
  const why = assertionProblem(proof, {
    publicKey: proof.passkey.payload.public_key,
    rpId: proof.passkey.payload.rp_id,
    challenge: decisionChallenge(p),
  });
  if (why) return { ok: false, reason: 'bad signature', detail: why };
  return bound;
}
