/*
 * MLflow's MetricThreshold semantics (mlflow/models/evaluation/validation.py), so a gate means what the
 * same thresholds mean in `mlflow.validate_evaluation_results`:
 * - threshold: value >= threshold when greater is better, else value <= threshold;
 * - min_absolute_change: value >= baseline + change (greater is better), else value <= baseline - change;
 * - min_relative_change (0..1): (value - baseline) / baseline >= change (greater is better), else
 *   (baseline - value) / baseline >= change; a baseline of 0 falls back to value >= baseline + 1e-10
 *   (or <= baseline - 1e-10).
 * Where MLflow reports a missing candidate or baseline metric as a failure, vt says `error`: the gate
 * could not decide, and an unknown is never a pass.
 */

export interface MetricThreshold {
  threshold?: number | undefined;
  min_absolute_change?: number | undefined;
  min_relative_change?: number | undefined;
  greater_is_better: boolean;
}

export interface ThresholdCheck {
  check: 'threshold' | 'min_absolute_change' | 'min_relative_change';
  passed: boolean;
  /** One line a person can read, with the values compared. */
  detail: string;
}

export type ThresholdVerdict =
  | { status: 'pass' | 'fail'; checks: ThresholdCheck[] }
  | { status: 'error'; reason: string; checks: ThresholdCheck[] };

/** True when a comparison against a baseline is asked for. */
export const needsBaseline = (t: MetricThreshold) =>
  t.min_absolute_change !== undefined || t.min_relative_change !== undefined;

/** Judge a candidate value (and a baseline value, when a change is asked for) against a threshold. */
export function judge(t: MetricThreshold, value: number | null, baseline: number | null): ThresholdVerdict {
  if (value === null || !Number.isFinite(value))
    return { status: 'error', reason: 'the candidate metric is missing', checks: [] };
  const better = (a: number, b: number) => (t.greater_is_better ? a >= b : a <= b);
  const sign = t.greater_is_better ? '>=' : '<=';
  const checks: ThresholdCheck[] = [];
  if (t.threshold !== undefined) {
    const passed = better(value, t.threshold);
    checks.push({
      check: 'threshold',
      passed,
      detail: `${value} ${passed ? sign : `not ${sign}`} ${t.threshold}`,
    });
  }
  if (needsBaseline(t)) {
    if (baseline === null || !Number.isFinite(baseline))
      return { status: 'error', reason: 'the baseline metric is missing', checks };
    if (t.min_absolute_change !== undefined) {
      const target = t.greater_is_better
        ? baseline + t.min_absolute_change
        : baseline - t.min_absolute_change;
      const passed = better(value, target);
      checks.push({
        check: 'min_absolute_change',
        passed,
        detail: `${value} ${passed ? sign : `not ${sign}`} baseline ${baseline} ${t.greater_is_better ? '+' : '-'} ${t.min_absolute_change}`,
      });
    }
    if (t.min_relative_change !== undefined) {
      let passed: boolean;
      let detail: string;
      if (baseline === 0) {
        passed = better(value, t.greater_is_better ? baseline + 1e-10 : baseline - 1e-10);
        detail = `baseline is 0: ${value} ${passed ? '' : 'not '}better than it`;
      } else {
        const change = t.greater_is_better ? (value - baseline) / baseline : (baseline - value) / baseline;
        passed = !(change < t.min_relative_change);
        detail = `relative change ${Number(change.toPrecision(6))} ${passed ? '>=' : '<'} ${t.min_relative_change} (baseline ${baseline})`;
      }
      checks.push({ check: 'min_relative_change', passed, detail });
    }
  }
  return { status: checks.every((c) => c.passed) ? 'pass' : 'fail', checks };
}
