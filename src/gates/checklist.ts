import type { GateSpec } from '../train/schema.ts';
import type { GateContext, GateResult } from './types.ts';

/** Passes when every listed item (by default every required item) is ticked in this visit and not reopened. */
export async function checklistGate(
  spec: Extract<GateSpec, { kind: 'checklist' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const ids = spec.items ?? ctx.phase.checklist.filter((c) => c.required).map((c) => c.id);
  const state = ctx.evidence.checklist;
  const ticked = ids.filter((id) => state[id]?.ticked);
  const missing = ids.filter((id) => !state[id]?.ticked);
  const reopened = missing.filter((id) => state[id] && !state[id].ticked);
  const carried = ticked.filter((id) => state[id]?.carriedFrom != null);
  const visit = ctx.evidence.n > 1 ? ` in visit ${ctx.evidence.n}` : '';
  return {
    gate: spec.id,
    kind: spec.kind,
    status: missing.length ? 'fail' : 'pass',
    message: missing.length
      ? `${missing.length} of ${ids.length} checklist items open${visit}: ${missing.join(', ')}`
      : `all ${ids.length} checklist items ticked${visit}${carried.length ? ` (${carried.length} carried forward)` : ''}`,
    evidence: { visit: ctx.evidence.n, required: ids, ticked, missing, reopened, carried },
  };
}
