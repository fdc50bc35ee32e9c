import type { GateApproval, GateContext, GateWaiver } from '../gates/types.ts';
import { payloadMismatch } from '../identity/decision-match.ts';
import { DECISION_FORMAT } from '../identity/decisions.ts';
import { ringOfTrain, signaturesRequired } from '../identity/pinned-ring.ts';
import { type DecisionProof, verifyDecisionProof } from '../identity/proof.ts';
import type { Train } from '../train/schema.ts';
import type { Json } from '../types.ts';

/*
 * When the train requires signed decisions, a gate counts only the approvals and waivers whose
 * signature verifies: by a key the train lists for that person at the time the decision was
 * recorded, over exactly that decision. A row written into the store by someone without the
 * person's key (a forged event with a correct chain hash) passes nothing.
 */

/** Why a recorded decision's proof does not make it count, or null when it does. */
function proofProblem(
  ctx: GateContext,
  actor: string,
  ts: string | undefined,
  proof: unknown,
  expected: Record<string, Json>,
  ignore: readonly string[] = [],
): string | null {
  if (!proof) return `${actor}'s decision is not signed`;
  const p = proof as DecisionProof;
  const t = ts === undefined ? Number.NaN : Date.parse(ts);
  if (!Number.isFinite(t)) return `${actor}'s decision has no recorded time`;
  const v = verifyDecisionProof(p, ringOfTrain(ctx.train), t);
  if (!v.ok) return `${actor}'s signature does not verify: ${v.reason}`;
  const mismatch = payloadMismatch(p.payload, { format: DECISION_FORMAT, actor, ...expected }, ignore);
  return mismatch ? `${actor}'s signature is for another decision (${mismatch})` : null;
}

/** Null when the approval counts; otherwise why it does not. */
function approvalSignatureProblem(a: GateApproval, ctx: GateContext): string | null {
  return proofProblem(ctx, a.actor, a.ts, a.proof, {
    project: ctx.project,
    phase: a.phase,
    visit: a.visit ?? ctx.evidence.visit,
    decision: a.decision,
    evidence_digest: a.digest,
    role: a.role,
    reason: a.reason,
  });
}

/** Null when the waiver (and its confirmation) count; otherwise why not. */
function waiverSignatureProblem(gate: string, w: GateWaiver, ctx: GateContext): string | null {
  // The waiver's record keeps no evidence digest; the audit checks it against the state it was given on.
  const base = {
    project: ctx.project,
    phase: ctx.phase.id,
    visit: ctx.evidence.visit,
    decision: 'waive',
    gate,
    expires_at: w.expiresAt,
  };
  const first = proofProblem(ctx, w.actor, w.ts, w.proof, { ...base, reason: w.reason, confirms: null }, [
    'evidence_digest',
  ]);
  if (first || !w.confirmedBy || !w.confirmation) return first;
  const c = w.confirmation;
  return proofProblem(
    ctx,
    w.confirmedBy,
    c.ts,
    c.proof,
    { ...base, reason: c.reason, confirms: w.seq ?? -1 },
    ['evidence_digest'],
  );
}

/** The gates' signature checks for a train: none when it does not require signed decisions. */
export function signatureChecks(train: Train): GateContext['signatures'] {
  if (!signaturesRequired(train)) return undefined;
  return { approval: approvalSignatureProblem, waiver: waiverSignatureProblem };
}
