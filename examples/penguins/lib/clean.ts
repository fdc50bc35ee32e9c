import type { CsvRow } from './csv.ts';
import { MEASUREMENTS, type Penguin, rejectReason, toPenguin } from './penguins.ts';

/** Physically plausible ranges; values outside are treated as recording errors. */
export const RANGES: Record<(typeof MEASUREMENTS)[number], [number, number]> = {
  bill_length_mm: [25, 70],
  bill_depth_mm: [10, 25],
  flipper_length_mm: [160, 240],
  body_mass_g: [2000, 7000],
};

/** The cleaning rules applied to raw rows: the usable birds, and why each other row was dropped. */
export function cleanRows(raw: readonly CsvRow[]): {
  clean: Penguin[];
  dropped: { id: string; reason: string }[];
} {
  const dropped: { id: string; reason: string }[] = [];
  const seen = new Set<string>();
  const clean: Penguin[] = [];
  for (const row of raw) {
    const why = rejectReason(row);
    if (why) {
      dropped.push({ id: row.id!, reason: why });
      continue;
    }
    const p = toPenguin(row);
    const out = MEASUREMENTS.find((m) => p[m] < RANGES[m][0] || p[m] > RANGES[m][1]);
    if (out) {
      dropped.push({ id: row.id!, reason: `${out} out of range` });
      continue;
    }
    const key = JSON.stringify({ ...p, id: 0 });
    if (seen.has(key)) {
      dropped.push({ id: row.id!, reason: 'duplicate of an earlier row' });
      continue;
    }
    seen.add(key);
    clean.push(p);
  }
  return { clean, dropped };
}
