/** Box-plot statistics of a sample (seconds for durations); null when the sample is empty. */
export interface BoxStats {
  n: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
  mean: number;
  p85: number;
  p95: number;
  /** Tukey's whiskers: the furthest values within 1.5 × IQR of the quartiles. */
  whisker_low: number;
  whisker_high: number;
  /** Values beyond the whiskers. */
  outliers: number;
}

/**
 * The q-quantile of an ascending sample by linear interpolation between order statistics
 * (Hyndman and Fan type 7, the default of R and NumPy).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (!n) throw new Error('quantile of an empty sample');
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export const ascending = (a: number, b: number) => a - b;

/** Box-plot statistics of a sample (any order; not modified). */
export function boxStats(values: readonly number[]): BoxStats | null {
  if (!values.length) return null;
  const s = [...values].sort(ascending);
  const q1 = quantileSorted(s, 0.25);
  const q3 = quantileSorted(s, 0.75);
  const fence = 1.5 * (q3 - q1);
  const inside = s.filter((v) => v >= q1 - fence && v <= q3 + fence);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    min: s[0]!,
    q1,
    median: quantileSorted(s, 0.5),
    q3,
    max: s[s.length - 1]!,
    mean: sum / s.length,
    p85: quantileSorted(s, 0.85),
    p95: quantileSorted(s, 0.95),
    whisker_low: inside[0] ?? s[0]!,
    whisker_high: inside[inside.length - 1] ?? s[s.length - 1]!,
    outliers: s.length - inside.length,
  };
}

/** part / whole, or null when there is nothing to divide. */
export const ratio = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);
