import type { GateSpec } from '../train/schema.ts';
import { evaluateMetricExpr, parseMetricExpr } from './expr.ts';
import type { GateContext, GateResult } from './types.ts';

/** Evaluates a metric expression over the latest recorded value of each metric. */
export async function metricGate(
  spec: Extract<GateSpec, { kind: 'metric' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const values = new Map(Object.entries(ctx.state.metrics).map(([k, v]) => [k, v.value]));
  const verdict = evaluateMetricExpr(parseMetricExpr(spec.expr), values);
  return {
    gate: spec.id,
    kind: spec.kind,
    status: verdict.status,
    message: verdict.message,
    evidence: { expr: spec.expr, observed: verdict.observed, missing: verdict.missing },
  };
}
