import { shuffled } from './prng.ts';

/** The parts of one dataset: train, validation and test, plus the birds held back for later seasons. */
export interface Splits<T> {
  train: T[];
  valid: T[];
  test: T[];
  /** Not in any split: the field feed draws its seasons from these (see lib/feed.ts). */
  heldBack: T[];
}

/** Shares of the preparation split: 30% train, 15% validation, 15% test, 40% held back for the field feed. */
export const SHARES = { train: 0.3, valid: 0.15, test: 0.15 } as const;

/**
 * Seeded random split: deterministic, disjoint, and covering every item. Whatever the three shares
 * leave over is held back.
 */
export function seededSplit<T>(
  items: readonly T[],
  seed: number,
  shares: { train: number; valid: number; test: number } = SHARES,
): Splits<T> {
  const order = shuffled(items, seed);
  const nTrain = Math.round(items.length * shares.train);
  const nValid = Math.round(items.length * shares.valid);
  const nTest = Math.min(order.length - nTrain - nValid, Math.round(items.length * shares.test));
  return {
    train: order.slice(0, nTrain),
    valid: order.slice(nTrain, nTrain + nValid),
    test: order.slice(nTrain + nValid, nTrain + nValid + nTest),
    heldBack: order.slice(nTrain + nValid + nTest),
  };
}
