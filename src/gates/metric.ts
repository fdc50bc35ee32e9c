import { evaluateMetricExpr, metricNames, parseMetricExpr } from '../expr/metric-expr.ts';
import type { GateSpec } from '../train/schema.ts';
import type { GateContext, GateResult } from './types.ts';

/**
 * The value a metric reference reads: `auc` is this visit's value, `auc@latest` the latest value
 * recorded anywhere, `auc@training` the value recorded in the latest visit of `training`.
 */
export function metricValues(names: readonly string[], ctx: GateContext): Map<string, number> {
  const out = new Map<string, number>();
  for (const ref of names) {
    const at = ref.indexOf('@');
    const name = at < 0 ? ref : ref.slice(0, at);
    const scope = at < 0 ? null : ref.slice(at + 1);
    const value =
      scope === null
        ? ctx.evidence.metrics[name]?.value
        : scope === 'latest'
          ? ctx.metricScopes.latest[name]
          : ctx.metricScopes.phases[scope]?.[name];
    if (value !== undefined) out.set(ref, value);
  }
  return out;
}

/** Evaluates a metric expression over the metrics recorded in this visit (or the scopes it names). */
export async function metricGate(
  spec: Extract<GateSpec, { kind: 'metric' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const expr = parseMetricExpr(spec.expr);
  const verdict = evaluateMetricExpr(expr, metricValues(metricNames(expr), ctx));
  return {
    gate: spec.id,
    kind: spec.kind,
    status: verdict.status,
    message:
      verdict.missing.length && ctx.evidence.n > 1
        ? `${verdict.message} in visit ${ctx.evidence.n} (measure again, or carry the value forward)`
        : verdict.message,
    evidence: {
      expr: spec.expr,
      visit: ctx.evidence.n,
      observed: verdict.observed,
      missing: verdict.missing,
    },
  };
}
