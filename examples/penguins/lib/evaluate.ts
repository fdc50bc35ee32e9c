import { rocAuc } from './auc.ts';
import { accuracy, f1, threshold } from './classification.ts';
import { label, type Penguin } from './penguins.ts';
import { round } from './stats.ts';

/** Held-out quality of one set of scores. */
export interface Scores {
  n: number;
  auc: number;
  accuracy: number;
  f1: number;
}

/** AUC, and accuracy and F1 at the cut, of scores for the given birds (rounded to 4 decimals). */
export function scoreQuality(rows: readonly Penguin[], scores: readonly number[], cut = 0.5): Scores {
  const y = rows.map(label);
  const pred = threshold(scores, cut);
  return {
    n: rows.length,
    auc: round(rocAuc(y, scores)),
    accuracy: round(accuracy(y, pred)),
    f1: round(f1(y, pred)),
  };
}
