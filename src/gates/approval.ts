import type { GateSpec } from '../train/schema.ts';
import { evidenceDigest } from './digest.ts';
import type { GateContext, GateResult } from './types.ts';

/**
 * Passes with `count` approvals from members of `role` during this visit, each given on the evidence
 * as it stands now, by people who did no work in this visit. Any rejection fails it. When the train
 * requires signed decisions, only approvals and rejections whose signature verifies count.
 */
export async function approvalGate(
  spec: Extract<GateSpec, { kind: 'approval' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const digest = evidenceDigest(ctx.evidence);
  const workers = ctx.evidence.contributors;
  const ofRole = ctx.approvals.filter((a) => a.phase === ctx.phase.id && a.role === spec.role);
  // When the train requires signed decisions, one whose signature does not verify counts for nothing.
  const unverified = ofRole
    .map((a) => ({ a, problem: ctx.signatures?.approval(a, ctx) ?? null }))
    .filter((x) => x.problem !== null);
  const mine = ofRole.filter((a) => !unverified.some((u) => u.a === a));
  const rejected = mine.filter((a) => a.decision === 'reject');
  const valid = mine.filter(
    (a) => a.decision === 'approve' && a.digest === digest && !workers.includes(a.actor),
  );
  const approvers = [...new Set(valid.map((a) => a.actor))];
  const stale = mine.filter((a) => a.decision === 'approve' && a.digest !== digest).map((a) => a.actor);
  let status: GateResult['status'] = approvers.length >= spec.count ? 'pass' : 'fail';
  let message = `${approvers.length} of ${spec.count} approval${spec.count > 1 ? 's' : ''} from ${spec.role}`;
  if (rejected.length) {
    status = 'fail';
    message = `rejected by ${rejected.map((r) => `${r.actor}${r.reason ? ` (${r.reason})` : ''}`).join(', ')}`;
  } else if (stale.length && status === 'fail') {
    message += `; approvals by ${[...new Set(stale)].join(', ')} predate changed evidence`;
  }
  if (unverified.length) message += `; not counted: ${unverified.map((u) => u.problem).join('; ')}`;
  return {
    gate: spec.id,
    kind: spec.kind,
    status,
    message,
    evidence: {
      role: spec.role,
      needed: spec.count,
      approvers,
      rejected_by: rejected.map((r) => r.actor),
      stale_approvals: stale,
      ...(unverified.length
        ? { unverified: unverified.map((u) => ({ actor: u.a.actor, problem: u.problem! })) }
        : {}),
      digest,
    },
  };
}
