import type { Penguin } from './penguins.ts';
import { gaussian, mulberry32 } from './prng.ts';

/** Workspace path of a production batch. */
export function batchPath(name: string): string {
  return `data/production/${name}.csv`;
}

/** The first production season: birds weighed before moult, 20% heavier than in the study. */
export const SHIFTED_BATCH = 'season-1-shifted';

/** The season after retraining: ordinary birds, remeasured with normal instrument noise. */
export const RECENT_BATCH = 'season-2-recent';

/** Body mass +20% (pre-moult fattening), everything else unchanged. */
export function heavySeason(rows: readonly Penguin[]): Penguin[] {
  return rows.map((p) => ({ ...p, body_mass_g: Math.round(p.body_mass_g * 1.2) }));
}

/** Remeasure each bird with about 1% instrument noise per measurement (seeded). */
export function remeasure(rows: readonly Penguin[], seed: number): Penguin[] {
  const rand = mulberry32(seed);
  const jitter = (x: number, digits: number) => {
    const f = 10 ** digits;
    return Math.round(x * (1 + 0.01 * gaussian(rand)) * f) / f;
  };
  return rows.map((p) => ({
    ...p,
    bill_length_mm: jitter(p.bill_length_mm, 1),
    bill_depth_mm: jitter(p.bill_depth_mm, 1),
    flipper_length_mm: jitter(p.flipper_length_mm, 0),
    body_mass_g: jitter(p.body_mass_g, 0),
  }));
}
