import { label, type Penguin } from './penguins.ts';
import { round } from './stats.ts';

/** Errors of a model within one segment of birds. */
export interface SegmentErrors {
  segment: string;
  n: number;
  errors: number;
  errorRate: number;
  femalesCalledMale: number;
  malesCalledFemale: number;
  meanScore: number;
}

/** Error counts per species x sex segment, worst error rate first. */
export function errorsBySegment(
  rows: readonly Penguin[],
  scores: readonly number[],
  cut = 0.5,
): SegmentErrors[] {
  const groups = new Map<string, number[]>();
  rows.forEach((p, i) => {
    const key = `${p.species} ${p.sex}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  return [...groups.entries()]
    .map(([segment, idx]) => {
      const wrong = idx.filter((i) => (scores[i]! >= cut ? 1 : 0) !== label(rows[i]!));
      return {
        segment,
        n: idx.length,
        errors: wrong.length,
        errorRate: round(wrong.length / idx.length, 3),
        femalesCalledMale: wrong.filter((i) => rows[i]!.sex === 'female').length,
        malesCalledFemale: wrong.filter((i) => rows[i]!.sex === 'male').length,
        meanScore: round(idx.reduce((t, i) => t + scores[i]!, 0) / idx.length, 3),
      };
    })
    .sort((a, b) => b.errorRate - a.errorRate || a.segment.localeCompare(b.segment));
}
