import type { GateSpec } from '../train/schema.ts';
import type { GateContext, GateResult } from './types.ts';

/** Passes when every listed item (by default every required item) is ticked and not reopened. */
export async function checklistGate(
  spec: Extract<GateSpec, { kind: 'checklist' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const ids = spec.items ?? ctx.phase.checklist.filter((c) => c.required).map((c) => c.id);
  const state = ctx.state.checklist[ctx.phase.id] ?? {};
  const ticked = ids.filter((id) => state[id]?.ticked);
  const missing = ids.filter((id) => !state[id]?.ticked);
  const reopened = missing.filter((id) => state[id] && !state[id].ticked);
  return {
    gate: spec.id,
    kind: spec.kind,
    status: missing.length ? 'fail' : 'pass',
    message: missing.length
      ? `${missing.length} of ${ids.length} checklist items open: ${missing.join(', ')}`
      : `all ${ids.length} checklist items ticked`,
    evidence: { required: ids, ticked, missing, reopened },
  };
}
