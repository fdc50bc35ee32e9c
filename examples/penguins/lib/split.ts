import { shuffled } from './prng.ts';

/** Train, validation and test parts of one dataset. */
export interface Splits<T> {
  train: T[];
  valid: T[];
  test: T[];
}

/** Seeded random split (default 60/20/20): deterministic, disjoint, and covering every item. */
export function seededSplit<T>(
  items: readonly T[],
  seed: number,
  trainShare = 0.6,
  validShare = 0.2,
): Splits<T> {
  const order = shuffled(items, seed);
  const nTrain = Math.round(items.length * trainShare);
  const nValid = Math.round(items.length * validShare);
  return {
    train: order.slice(0, nTrain),
    valid: order.slice(nTrain, nTrain + nValid),
    test: order.slice(nTrain + nValid),
  };
}
