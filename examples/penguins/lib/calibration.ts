/** One reliability bin: mean predicted probability against the observed rate. */
export interface CalibrationBin {
  from: number;
  to: number;
  n: number;
  predicted: number;
  observed: number;
}

/** Reliability table with equal-width probability bins (empty bins left out). */
export function calibrationBins(
  yTrue: readonly number[],
  scores: readonly number[],
  bins = 5,
): CalibrationBin[] {
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const from = b / bins;
    const to = (b + 1) / bins;
    const idx = scores
      .map((s, i) => [s, i] as const)
      .filter(([s]) => s >= from && (s < to || (b === bins - 1 && s <= 1)));
    if (!idx.length) continue;
    const predicted = idx.reduce((t, [s]) => t + s, 0) / idx.length;
    const observed = idx.reduce((t, [, i]) => t + yTrue[i]!, 0) / idx.length;
    out.push({ from, to, n: idx.length, predicted, observed });
  }
  return out;
}

/** Brier score: mean squared error of the probabilities. */
export function brier(yTrue: readonly number[], scores: readonly number[]): number {
  return scores.reduce((t, s, i) => t + (s - yTrue[i]!) ** 2, 0) / Math.max(1, scores.length);
}
