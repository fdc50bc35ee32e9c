import { mean, std } from './stats.ts';

/** Centre and scale of one numeric column, fitted on training data. */
export interface ScaleStats {
  name: string;
  mean: number;
  std: number;
}

/** Fit mean and standard deviation of a column (std floored so constant columns do not divide by 0). */
export function fitScale(name: string, values: readonly number[]): ScaleStats {
  return { name, mean: mean(values), std: std(values) || 1 };
}

/** Standardise one value with fitted stats. */
export function scale(s: ScaleStats, x: number): number {
  return (x - s.mean) / s.std;
}
