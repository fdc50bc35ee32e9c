/** Counts of a binary confusion matrix. */
export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion counts for 0/1 labels and 0/1 predictions. */
export function confusion(yTrue: readonly number[], yPred: readonly number[]): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  yTrue.forEach((y, i) => {
    const p = yPred[i];
    if (p === 1) y === 1 ? c.tp++ : c.fp++;
    else y === 1 ? c.fn++ : c.tn++;
  });
  return c;
}

/** Share of predictions equal to the label. */
export function accuracy(yTrue: readonly number[], yPred: readonly number[]): number {
  const c = confusion(yTrue, yPred);
  return (c.tp + c.tn) / Math.max(1, yTrue.length);
}

/** F1 of the positive class (0 when there are no true or predicted positives). */
export function f1(yTrue: readonly number[], yPred: readonly number[]): number {
  const c = confusion(yTrue, yPred);
  return c.tp === 0 ? 0 : (2 * c.tp) / (2 * c.tp + c.fp + c.fn);
}

/** Threshold scores into 0/1 predictions. */
export function threshold(scores: readonly number[], cut = 0.5): number[] {
  return scores.map((s) => (s >= cut ? 1 : 0));
}
