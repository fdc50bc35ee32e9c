import { VtError } from '../errors.ts';
import { evidenceDigest } from '../gates/digest.ts';
import { payloadMismatch } from '../identity/decision-match.ts';
import {
  DECISION_FORMAT,
  type DecisionKind,
  type DecisionPayload,
  decisionPayload,
} from '../identity/decisions.ts';
import { ringOfTrain, signaturesRequired } from '../identity/pinned-ring.ts';
import { type DecisionProof, proofProblem, verifyDecisionProof } from '../identity/proof.ts';
import type { Train } from '../train/schema.ts';
import type { Json } from '../types.ts';
import { decideApproval, decideCarry, decideLifecycle, decideUpgrade, decideWaive } from './core.ts';
import { decideErase, type ErasureTarget } from './erasure.ts';
import type { EventType, NewEvent } from './events.ts';
import { decideRetire } from './retire.ts';
import { currentEvidence, type ProjectState } from './state.ts';
import { decideRetry, ticketsAwaitingApproval } from './tickets.ts';

/*
 * People sign their decisions. A decision call may carry a proof (an SSH signature or a passkey
 * assertion over the decision's payload, see src/identity/proof.ts); `sealDecision` checks it against
 * the decision the core is about to record — this project, phase, visit, evidence, the words and
 * fields of the decision, a head of this chain, a key the train lists for the acting person at the
 * engine's time — and stores it in the decision's event. A train with `decisions: {signed:
 * required}` refuses a decision without one.
 */

/** A decision a person makes, as the engine is asked to record it (and as a payload is drafted for). */
export type DecisionCall =
  | { kind: 'approve' | 'reject'; role?: string | undefined; reason: string | null }
  | { kind: 'waive'; gate: string; reason: string; expiresAt: Date }
  | { kind: 'hold' | 'resume' | 'cancel' | 'reopen' | 'retire'; reason: string | null }
  | { kind: 'carry-forward'; items: string[]; artifacts: string[]; metrics: string[]; reason: string }
  | { kind: 'upgrade'; to: Train; toHash: string; reason: string }
  | { kind: 'done' | 'retry'; ticket: string }
  /** `target`: the event as stored (the engine reads it when drafting; absent, the erasure is refused). */
  | { kind: 'erase'; seq: number; reason: string; target?: ErasureTarget | undefined };

/** The event that records each kind of decision (and carries its proof). */
export const DECISION_EVENTS: Partial<Record<DecisionKind, EventType>> = {
  approve: 'approval.recorded',
  reject: 'approval.recorded',
  waive: 'gate.waived',
  done: 'ticket.status',
  retry: 'ticket.status',
  'carry-forward': 'evidence.carried',
  hold: 'project.held',
  resume: 'project.resumed',
  cancel: 'project.cancelled',
  reopen: 'project.reopened',
  upgrade: 'project.upgraded',
  retire: 'project.retired',
  erase: 'event.erased',
};

/** Decisions that judge the visit's evidence: their payload names its digest, and stale evidence refuses them. */
const JUDGES_EVIDENCE: readonly DecisionKind[] = ['approve', 'reject', 'waive', 'carry-forward'];

/** The core's events for a decision (done needs gate results and is decided by Tickets.done). */
export function decideCall(
  s: ProjectState,
  t: Train,
  call: DecisionCall,
  actor: string,
  now: Date,
): NewEvent[] {
  switch (call.kind) {
    case 'approve':
    case 'reject':
      return [
        ...decideApproval(s, t, actor, call.kind, { role: call.role, reason: call.reason }),
        ...ticketsAwaitingApproval(s),
      ];
    case 'waive':
      return decideWaive(s, t, actor, call.gate, call.reason, call.expiresAt, now);
    case 'hold':
    case 'resume':
    case 'cancel':
    case 'reopen':
      return decideLifecycle(s, t, call.kind, call.reason);
    case 'retire':
      return decideRetire(s, call.reason);
    case 'carry-forward':
      return decideCarry(s, t, call);
    case 'upgrade':
      return decideUpgrade(s, t, call.to, call.toHash, call.reason);
    case 'retry':
      return decideRetry(s, call.ticket);
    case 'done':
      return [];
    case 'erase':
      return decideErase(s, call.seq, call.target, call.reason).events;
  }
}

/** The event among `events` that records a decision of `kind` (for done and retry: of that ticket). */
function decisionEvent(events: readonly NewEvent[], kind: DecisionKind, ticket: string | null) {
  const type = DECISION_EVENTS[kind];
  return events.find(
    (e) =>
      e.type === type && (e.type !== 'ticket.status' || (e.payload as { ticket: string }).ticket === ticket),
  );
}

/** A decision's own fields, as its event records them: what the person signs beside the common ones. */
export function decisionFields(
  kind: DecisionKind,
  e: NewEvent | undefined,
  ticket: string | null,
): Record<string, Json> {
  if (kind === 'done' || kind === 'retry') return { ticket: ticket ?? '' };
  if (!e) return {};
  const p = e.payload as Record<string, Json>;
  switch (kind) {
    case 'approve':
    case 'reject':
      return { role: p.role ?? null, reason: p.reason ?? null };
    case 'waive':
      return { gate: p.gate!, reason: p.reason!, expires_at: p.expires_at!, confirms: p.confirms ?? null };
    case 'carry-forward':
      return {
        from_visit: p.from_visit!,
        items: p.items!,
        artifacts: p.artifacts!,
        metrics: p.metrics!,
        reason: p.reason!,
      };
    case 'upgrade':
      return { from_hash: p.from_hash!, to_hash: p.to_hash!, reason: p.reason! };
    case 'erase':
      return { seq: p.seq!, type: p.type!, reason: p.reason! };
    default:
      return { reason: p.reason ?? null };
  }
}

/** Everything a payload for this decision on state `s` must say, but its time and head. */
export function expectedDecision(
  s: ProjectState,
  kind: DecisionKind,
  actor: string,
  fields: Record<string, Json>,
): Record<string, Json> {
  return {
    ...fields,
    format: DECISION_FORMAT,
    project: s.id,
    phase: s.phase,
    visit: s.visit,
    decision: kind,
    actor,
    evidence_digest: JUDGES_EVIDENCE.includes(kind) ? evidenceDigest(currentEvidence(s)) : null,
  };
}

/**
 * The payload a person signs for `call` on state `s`, as the engine will expect it; the core decides
 * first, so a decision it would refuse is refused before anyone signs.
 */
export function draftDecision(
  s: ProjectState,
  t: Train,
  call: DecisionCall,
  actor: string,
  now: Date,
): DecisionPayload {
  const ticket = call.kind === 'done' || call.kind === 'retry' ? call.ticket : null;
  const events = decideCall(s, t, call, actor, now);
  const e = decisionEvent(events, call.kind, ticket);
  const {
    format: _f,
    project,
    phase,
    visit,
    actor: _a,
    decision,
    evidence_digest,
    ...fields
  } = expectedDecision(s, call.kind, actor, decisionFields(call.kind, e, ticket));
  return decisionPayload(
    {
      project: project as string,
      phase: phase as string,
      visit: visit as number,
      decision: decision as DecisionKind,
      actor,
      evidenceDigest: evidence_digest as string | null,
      time: now,
      head: { seq: s.seq, hash: s.headHash },
    },
    fields,
  );
}

const HINTS: Record<string, string> = {
  'unknown key': 'List your public key for yourself under people: in the train (see: vt whoami)',
  revoked: 'Sign with a key that is not revoked (see: vt whoami)',
  expired: 'Sign with your current key (see: vt whoami)',
  'not yet valid': 'Sign with a key that is valid now (see: vt whoami)',
  'bad signature': 'Sign the decision anew',
  'payload mismatch': 'Sign this decision anew: the signature is for another one',
};

/**
 * The one check of a person's decision: refuse it when the train requires a signature and there is
 * none, or when the proof does not sign exactly this decision by this person with a key valid now;
 * otherwise return the events with the proof stored in the decision's event. `headHash` is the hash
 * the store holds at the proof's signed head (read before the transaction: events never change).
 */
export function sealDecision(input: {
  s: ProjectState;
  train: Train;
  kind: DecisionKind;
  actor: string;
  events: NewEvent[];
  proof: DecisionProof | undefined;
  headHash: string | null;
  now: Date;
  ticket?: string | null;
}): NewEvent[] {
  const { s, train, kind, actor, proof } = input;
  const ticket = input.ticket ?? null;
  const e = decisionEvent(input.events, kind, ticket);
  if (!proof) {
    if (signaturesRequired(train))
      throw new VtError(
        'NOT_PERMITTED',
        `${actor}'s ${kind} is not signed, and train ${train.name} requires signed decisions`,
        {
          hint: `Sign it (vt signs with --key FILE, ssh-agent or your vt key). No key yet? Make one: vt keys init --name ${actor}, and list its public key in vt.yaml:\n  people:\n    ${actor}:\n      roles: [${(train.people[actor] ?? []).join(', ')}]\n      keys:\n        - key: "ssh-ed25519 AAAA… ${actor}@vt"`,
        },
      );
    return input.events;
  }
  const shape = proofProblem(proof);
  if (shape) throw new VtError('BAD_INPUT', `not a decision proof: ${shape}`);
  const p = proof.payload;
  const expected = expectedDecision(s, kind, actor, decisionFields(kind, e, ticket));
  if (p.evidence_digest !== expected.evidence_digest && p.project === s.id && p.visit === s.visit)
    throw new VtError(
      'CONFLICT',
      `${actor}'s signature is over stale evidence: the evidence of visit ${s.visit} of ${s.phase} changed since it was signed`,
      { hint: 'Review the evidence again and sign the decision anew' },
    );
  const mismatch = payloadMismatch(p, expected);
  if (mismatch)
    throw new VtError('NOT_PERMITTED', `the signature is for another decision: ${mismatch}`, {
      hint: HINTS['payload mismatch'],
    });
  const head = p.head;
  if (head.seq > s.seq || (head.seq === s.seq ? s.headHash : input.headHash) !== head.hash)
    throw new VtError(
      'NOT_PERMITTED',
      `the signed head #${head.seq} is not an event of ${s.id}'s chain (its hash differs or it does not exist)`,
      { hint: 'Sign the decision anew, on the project as it stands' },
    );
  const last = s.signed?.[actor] ?? 0;
  if (head.seq < last)
    throw new VtError(
      'NOT_PERMITTED',
      `this signature was made on #${head.seq}, before ${actor}'s last signed decision (#${last}): a signature is used once`,
      { hint: 'Sign the decision anew' },
    );
  const v = verifyDecisionProof(proof, ringOfTrain(train), input.now.getTime());
  if (!v.ok)
    throw new VtError('NOT_PERMITTED', `${actor}'s signature is refused: ${v.reason} (${v.detail})`, {
      hint: HINTS[v.reason],
    });
  if (!e) return input.events;
  return input.events.map((x) => (x === e ? ({ ...x, payload: { ...x.payload, proof } } as NewEvent) : x));
}
