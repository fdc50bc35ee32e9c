import { canonicalJson } from '../canonical.ts';
import type { Json } from '../types.ts';
import { type KeyRing, type PersonKey, statusOfKeyFor } from './people.ts';
import { fingerprint } from './public-key.ts';
import { parseIsoTime } from './ssh-time.ts';
import { parseSshsig, type SshSigner, sshsigSign, sshsigVerify, VT_NAMESPACE } from './sshsig.ts';

/**
 * Signed decisions. Every decision a person makes is a canonical JSON payload (RFC 8785) that
 * names the project, phase, visit, the evidence it judged (by digest), the chain head it saw and
 * who decides, signed as an SSH signature in namespace "vt". Anyone can check one with
 * `ssh-keygen -Y verify -n vt` and an allowed_signers file; vt checks it against the train's keys
 * as they stood at the decision's time.
 */

export const DECISION_KINDS = [
  'approve',
  'reject',
  'waive',
  'done',
  'retry',
  'carry-forward',
  'hold',
  'resume',
  'cancel',
  'reopen',
  'upgrade',
  'retire',
  'erase',
] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** Format version of the payload, signed with it so a later format cannot be confused with this one. */
export const DECISION_FORMAT = 'vt-decision/1';

/** What a person signs. Decision-specific fields (gate, reason, expires_at, ticket…) sit beside these. */
export interface DecisionPayload {
  format: typeof DECISION_FORMAT;
  project: string;
  /** The phase decided on, or null for project-wide decisions (hold, resume, cancel…). */
  phase: string | null;
  visit: number | null;
  decision: DecisionKind;
  /** Who decides: the person whose key must sign. */
  actor: string;
  /** Digest of the evidence the person judged, or null when the decision judges none. */
  evidence_digest: string | null;
  /** ISO 8601 time the person decided. */
  time: string;
  /** The project's chain head the person saw: a decision made on a stale view does not apply. */
  head: { seq: number; hash: string };
  [field: string]: Json;
}

/** A decision with its signature: what the engine records and an auditor re-checks. */
export interface SignedDecision {
  payload: DecisionPayload;
  /** Armored SSH signature (-----BEGIN SSH SIGNATURE-----) over decisionMessage(payload), namespace "vt". */
  signature: string;
  /** SHA256 fingerprint of the signing key. */
  key: string;
  /** The principal who signed (equals payload.actor). */
  signer: string;
}

export const VERIFY_REASONS = [
  'unknown key',
  'revoked',
  'expired',
  'not yet valid',
  'bad signature',
  'payload mismatch',
] as const;
export type VerifyReason = (typeof VERIFY_REASONS)[number];

export type DecisionVerdict =
  | { ok: true; signer: string; key: string; listing: PersonKey }
  | { ok: false; reason: VerifyReason; detail: string };

/** The exact bytes signed: the payload's canonical JSON, UTF-8, no trailing newline. */
export function decisionMessage(payload: DecisionPayload): Buffer {
  return Buffer.from(canonicalJson(payload), 'utf8');
}

const HEX = /^[0-9a-f]{64}$/;

/** Why a payload is not a well-formed decision, or null. */
export function payloadProblem(p: unknown): string | null {
  if (!p || typeof p !== 'object' || Array.isArray(p)) return 'the payload is not an object';
  const d = p as Record<string, unknown>;
  if (d.format !== DECISION_FORMAT) return `format is not ${DECISION_FORMAT}`;
  if (typeof d.project !== 'string' || !d.project) return 'project is missing';
  if (d.phase !== null && (typeof d.phase !== 'string' || !d.phase))
    return 'phase must be a phase id or null';
  if (d.visit !== null && !(Number.isSafeInteger(d.visit) && (d.visit as number) >= 1))
    return 'visit must be a positive integer or null';
  if (!(DECISION_KINDS as readonly unknown[]).includes(d.decision))
    return `decision must be one of ${DECISION_KINDS.join(', ')}`;
  if (typeof d.actor !== 'string' || !d.actor) return 'actor is missing';
  if (d.evidence_digest !== null && (typeof d.evidence_digest !== 'string' || !d.evidence_digest))
    return 'evidence_digest must be a digest or null';
  if (typeof d.time !== 'string' || parseIsoTime(d.time) === null)
    return 'time must be an ISO 8601 time with a zone';
  const h = d.head as Record<string, unknown> | null;
  if (
    !h ||
    typeof h !== 'object' ||
    !Number.isSafeInteger(h.seq) ||
    (h.seq as number) < 0 ||
    typeof h.hash !== 'string'
  )
    return 'head must be {seq, hash}';
  if (!HEX.test(h.hash)) return 'head.hash must be a sha256 hex digest';
  try {
    canonicalJson(p);
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}

const BASE_FIELDS = [
  'format',
  'project',
  'phase',
  'visit',
  'decision',
  'actor',
  'evidence_digest',
  'time',
  'head',
];

/** Build a payload; decision-specific `fields` (gate, reason, expires_at, ticket…) may not shadow the base ones. */
export function decisionPayload(
  base: {
    project: string;
    phase: string | null;
    visit: number | null;
    decision: DecisionKind;
    actor: string;
    evidenceDigest: string | null;
    time: Date | string;
    head: { seq: number; hash: string };
  },
  fields: Record<string, Json> = {},
): DecisionPayload {
  const clash = Object.keys(fields).find((k) => BASE_FIELDS.includes(k));
  if (clash) throw new Error(`decision field "${clash}" would shadow the payload's own`);
  const p: DecisionPayload = {
    ...fields,
    format: DECISION_FORMAT,
    project: base.project,
    phase: base.phase,
    visit: base.visit,
    decision: base.decision,
    actor: base.actor,
    evidence_digest: base.evidenceDigest,
    time: typeof base.time === 'string' ? base.time : base.time.toISOString(),
    head: { seq: base.head.seq, hash: base.head.hash },
  };
  const problem = payloadProblem(p);
  if (problem) throw new Error(`not a decision payload: ${problem}`);
  return p;
}

/** Sign a decision with the person's key (a file, ssh-agent, or anything else that signs). */
export async function signDecision(payload: DecisionPayload, signer: SshSigner): Promise<SignedDecision> {
  const problem = payloadProblem(payload);
  if (problem) throw new Error(`not a decision payload: ${problem}`);
  const signature = await sshsigSign(decisionMessage(payload), signer, VT_NAMESPACE);
  return { payload, signature, key: fingerprint(signer.publicKey), signer: payload.actor };
}

/**
 * Check a signed decision: a genuine signature in namespace "vt" over this payload, by a key the
 * train lists for its signer and that was valid at `at` (default: the payload's time; the engine
 * passes the time it records). `expect` holds fields the payload must carry (project, phase,
 * visit, evidence digest, head…): a signature over a different decision is a payload mismatch.
 */
export function verifyDecision(
  signed: SignedDecision,
  ring: KeyRing,
  opts: { at?: Date | number | string; expect?: Partial<Record<string, Json>> } = {},
): DecisionVerdict {
  const fail = (reason: VerifyReason, detail: string): DecisionVerdict => ({ ok: false, reason, detail });
  if (!signed || typeof signed !== 'object') return fail('payload mismatch', 'not a signed decision');
  const problem = payloadProblem(signed.payload);
  if (problem) return fail('payload mismatch', problem);
  const p = signed.payload;
  if (signed.signer !== p.actor)
    return fail('payload mismatch', `signed as ${signed.signer}, but the payload's actor is ${p.actor}`);
  for (const [field, want] of Object.entries(opts.expect ?? {})) {
    if (want === undefined) continue;
    const got = p[field];
    if (got === undefined || canonicalJson(got) !== canonicalJson(want))
      return fail(
        'payload mismatch',
        `${field} is ${JSON.stringify(got ?? null)}, expected ${JSON.stringify(want)}`,
      );
  }
  const t =
    opts.at === undefined
      ? parseIsoTime(p.time)!
      : typeof opts.at === 'string'
        ? parseIsoTime(opts.at)
        : +opts.at;
  if (t === null || !Number.isFinite(t))
    return fail('payload mismatch', `cannot read the time ${String(opts.at)}`);
  return signatureVerdict(signed.signature, decisionMessage(p), signed.key, p.actor, ring, t);
}

/**
 * Check an armored SSH signature over `message` in namespace "vt": genuine, by the key the record
 * names (`recordKey`, a fingerprint), and listed for `person` with a window that holds `t` (epoch ms).
 */
export function signatureVerdict(
  signature: unknown,
  message: Uint8Array,
  recordKey: unknown,
  person: string,
  ring: KeyRing,
  t: number,
): DecisionVerdict {
  const fail = (reason: VerifyReason, detail: string): DecisionVerdict => ({ ok: false, reason, detail });
  if (typeof signature !== 'string') return fail('bad signature', 'no signature');
  const parsed = parseSshsig(signature);
  if (typeof parsed === 'string') return fail('bad signature', parsed);
  const fp = fingerprint(parsed.publicKey);
  if (recordKey !== fp)
    return fail('payload mismatch', `the record names key ${String(recordKey)}, but ${fp} signed`);
  const check = sshsigVerify(signature, message, VT_NAMESPACE);
  if (!check.ok) return fail('bad signature', check.reason);
  const standing = statusOfKeyFor(ring, person, fp, t);
  if (!standing) {
    const holders = [...new Set(ring.listingsOf(fp).map((l) => l.principals))];
    return fail(
      'unknown key',
      holders.length
        ? `key ${fp} is listed for ${holders.join(', ')}, not for ${person}`
        : `no one in the train holds key ${fp}`,
    );
  }
  const when = new Date(t).toISOString();
  const l = standing.listing;
  switch (standing.status) {
    case 'valid':
      return { ok: true, signer: person, key: fp, listing: l };
    case 'revoked':
      return fail(
        'revoked',
        `key ${fp} of ${person} was revoked at ${iso(l.revokedAt)} (${l.source}); signed at ${when}`,
      );
    case 'expired':
      return fail(
        'expired',
        `key ${fp} of ${person} was valid until ${iso(l.validBefore)} (${l.source}); signed at ${when}`,
      );
    case 'not yet valid':
      return fail(
        'not yet valid',
        `key ${fp} of ${person} is valid from ${iso(l.validAfter)} (${l.source}); signed at ${when}`,
      );
  }
}

const iso = (ms: number | null) => (ms === null ? '?' : new Date(ms).toISOString());
