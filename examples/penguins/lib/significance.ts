import { rocAuc } from './auc.ts';
import { mulberry32 } from './prng.ts';

/** How much better scores `b` rank than scores `a` on the same birds, with a bootstrap interval. */
export interface AucGain {
  gain: number;
  /** 5th and 95th percentiles of the resampled gain: `low > 0` is a one-sided 95% improvement. */
  low: number;
  high: number;
  resamples: number;
}

/**
 * Paired bootstrap of AUC(b) - AUC(a): resample birds with replacement (seeded), score both models on
 * the same resample, and take percentiles of the difference. Resamples with one class only are skipped.
 */
export function pairedAucGain(
  y: readonly number[],
  a: readonly number[],
  b: readonly number[],
  opts: { resamples?: number; seed?: number } = {},
): AucGain {
  const resamples = opts.resamples ?? 2000;
  const rand = mulberry32(opts.seed ?? 1);
  const gains: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const idx = y.map(() => Math.floor(rand() * y.length));
    const yy = idx.map((i) => y[i]!);
    const pos = yy.filter((v) => v === 1).length;
    if (pos === 0 || pos === yy.length) continue;
    gains.push(
      rocAuc(
        yy,
        idx.map((i) => b[i]!),
      ) -
        rocAuc(
          yy,
          idx.map((i) => a[i]!),
        ),
    );
  }
  gains.sort((x, z) => x - z);
  const at = (q: number) => gains[Math.min(gains.length - 1, Math.floor(q * gains.length))] ?? Number.NaN;
  return { gain: rocAuc(y, b) - rocAuc(y, a), low: at(0.05), high: at(0.95), resamples: gains.length };
}
