import { canonicalJson } from '../canonical.ts';
import { type DecisionVerdict, signatureVerdict } from './decisions.ts';
import type { KeyRing } from './people.ts';
import { fingerprint } from './public-key.ts';
import { parseIsoTime } from './ssh-time.ts';
import { type SshSigner, sshsigSign, VT_NAMESPACE } from './sshsig.ts';
import { parseCoseKey } from './webauthn.ts';

/**
 * How a passkey comes to speak for a person. A passkey is made in a browser, and the server that
 * stores its public key is no authority on whose it is: whoever can write the store could add their
 * own. So a passkey counts only once its owner binds it with their SSH key — the key the train
 * lists for them — by signing this statement (namespace "vt", like their decisions):
 *
 *   {"format":"vt-passkey/1","person":…,"credential_id":…,"public_key":<COSE, base64url>,"rp_id":…,"time":…}
 *
 * Every decision confirmed with the passkey carries the signed binding, so the decision event alone
 * proves who confirmed it: the binding's SSH signature against the train's keys, then the passkey's
 * assertion against the bound public key. A binding stops counting when the SSH key that signed it
 * is no longer valid (rotated out, expired or revoked) at the decision's time.
 */

export const PASSKEY_FORMAT = 'vt-passkey/1';

export interface PasskeyBindingPayload {
  format: typeof PASSKEY_FORMAT;
  person: string;
  /** The WebAuthn credential id, base64url. */
  credential_id: string;
  /** The credential's COSE public key, base64url. */
  public_key: string;
  /** The relying party (the dashboard's host name) the passkey was made for. */
  rp_id: string;
  time: string;
}

/** A binding signed with the person's SSH key. */
export interface PasskeyBinding {
  payload: PasskeyBindingPayload;
  /** Armored SSH signature over the payload's canonical JSON, namespace "vt". */
  signature: string;
  /** SHA256 fingerprint of the SSH key that signed. */
  key: string;
  signer: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Why a binding payload is malformed, or null. */
export function bindingProblem(p: unknown): string | null {
  if (!p || typeof p !== 'object' || Array.isArray(p)) return 'the binding is not an object';
  const b = p as Record<string, unknown>;
  if (b.format !== PASSKEY_FORMAT) return `format is not ${PASSKEY_FORMAT}`;
  if (typeof b.person !== 'string' || !b.person) return 'person is missing';
  if (typeof b.credential_id !== 'string' || !B64URL.test(b.credential_id))
    return 'credential_id is not base64url';
  if (typeof b.public_key !== 'string' || !B64URL.test(b.public_key)) return 'public_key is not base64url';
  if (typeof b.rp_id !== 'string' || !b.rp_id) return 'rp_id is missing';
  if (typeof b.time !== 'string' || parseIsoTime(b.time) === null) return 'time must be an ISO 8601 time';
  const extra = Object.keys(b).filter(
    (k) => !['format', 'person', 'credential_id', 'public_key', 'rp_id', 'time'].includes(k),
  );
  if (extra.length) return `unexpected field ${extra[0]}`;
  try {
    parseCoseKey(b.public_key);
  } catch (err) {
    return `public_key: ${(err as Error).message}`;
  }
  return null;
}

export function bindingMessage(p: PasskeyBindingPayload): Buffer {
  return Buffer.from(canonicalJson(p), 'utf8');
}

/** Sign a binding of a passkey to `person` with their SSH key. */
export async function signPasskeyBinding(
  b: Omit<PasskeyBindingPayload, 'format' | 'time'> & { time: Date | string },
  signer: SshSigner,
): Promise<PasskeyBinding> {
  const payload: PasskeyBindingPayload = {
    format: PASSKEY_FORMAT,
    person: b.person,
    credential_id: b.credential_id,
    public_key: b.public_key,
    rp_id: b.rp_id,
    time: typeof b.time === 'string' ? b.time : b.time.toISOString(),
  };
  const problem = bindingProblem(payload);
  if (problem) throw new Error(`not a passkey binding: ${problem}`);
  const signature = await sshsigSign(bindingMessage(payload), signer, VT_NAMESPACE);
  return { payload, signature, key: fingerprint(signer.publicKey), signer: b.person };
}

/** Check that `binding` binds a passkey to `person` with an SSH key the ring lists for them at `t` (epoch ms). */
export function verifyPasskeyBinding(
  binding: PasskeyBinding,
  ring: KeyRing,
  person: string,
  t: number,
): DecisionVerdict {
  if (!binding || typeof binding !== 'object')
    return { ok: false, reason: 'payload mismatch', detail: 'the passkey is not bound to anyone' };
  const problem = bindingProblem(binding.payload);
  if (problem) return { ok: false, reason: 'payload mismatch', detail: `passkey binding: ${problem}` };
  if (binding.payload.person !== person || binding.signer !== person)
    return {
      ok: false,
      reason: 'payload mismatch',
      detail: `the passkey is bound to ${binding.payload.person}, not to ${person}`,
    };
  const v = signatureVerdict(
    binding.signature,
    bindingMessage(binding.payload),
    binding.key,
    person,
    ring,
    t,
  );
  return v.ok ? v : { ...v, detail: `passkey binding: ${v.detail}` };
}
