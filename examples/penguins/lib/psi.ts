import { quantile } from './stats.ts';

/** Smallest share used for an empty bin, so the log stays finite. */
const EPS = 1e-4;

/** Inner bin edges at the reference's quantiles (bins - 1 of them). */
export function quantileEdges(reference: readonly number[], bins = 10): number[] {
  return Array.from({ length: bins - 1 }, (_, i) => quantile(reference, (i + 1) / bins));
}

/** Share of values in each bin defined by inner edges (a value equal to an edge goes to the lower bin). */
export function binShares(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let b = edges.findIndex((e) => v <= e);
    if (b < 0) b = edges.length;
    counts[b]!++;
  }
  return counts.map((c) => c / Math.max(1, values.length));
}

/** Population stability index of actual against reference, with quantile bins from the reference. */
export function psi(reference: readonly number[], actual: readonly number[], bins = 10): number {
  const edges = quantileEdges(reference, bins);
  const ref = binShares(reference, edges);
  const act = binShares(actual, edges);
  return ref.reduce((sum, r, i) => {
    const e = Math.max(r, EPS);
    const a = Math.max(act[i]!, EPS);
    return sum + (a - e) * Math.log(a / e);
  }, 0);
}

/**
 * Bins for comparing samples of n and m values against a threshold. With no drift at all, PSI over B
 * bins is about (B - 1)(1/n + 1/m) from sampling alone; take the most bins (at most 10) that keep that
 * floor under a third of the threshold, so a PSI over the threshold means the data moved.
 */
export function binsFor(n: number, m: number, threshold: number): number {
  for (let b = 10; b > 2; b--) if (noiseFloor(b, n, m) <= threshold / 3) return b;
  return 2;
}

/** The PSI expected from sampling alone, with B bins and samples of n and m values. */
export function noiseFloor(bins: number, n: number, m: number): number {
  return (bins - 1) * (1 / n + 1 / m);
}
