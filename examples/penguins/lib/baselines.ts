import { encode, type FeatureSpec } from './features.ts';
import { label, type Penguin } from './penguins.ts';
import { fitScale } from './standardise.ts';

/** Scores penguins; higher means more likely male. */
export type Scorer = (rows: readonly Penguin[]) => number[];

/** Rule baseline: body mass as a z-score within the bird's species (stats from the training rows). */
export function massRule(train: readonly Penguin[]): Scorer {
  const bySpecies = new Map<string, ReturnType<typeof fitScale>>();
  for (const sp of new Set(train.map((p) => p.species))) {
    const masses = train.filter((p) => p.species === sp).map((p) => p.body_mass_g);
    bySpecies.set(sp, fitScale(sp, masses));
  }
  return (rows) =>
    rows.map((p) => {
      const s = bySpecies.get(p.species);
      return s ? (p.body_mass_g - s.mean) / s.std : 0;
    });
}

/** k-nearest neighbours on the standardised features: share of males among the k closest training birds. */
export function knn(train: readonly Penguin[], spec: FeatureSpec, k: number): Scorer {
  const points = train.map((p) => ({ x: encode(spec, p), y: label(p) }));
  return (rows) =>
    rows.map((p) => {
      const x = encode(spec, p);
      const nearest = points
        .map((q) => ({ d: q.x.reduce((s, v, i) => s + (v - x[i]!) ** 2, 0), y: q.y }))
        .sort((a, b) => a.d - b.d)
        .slice(0, k);
      return nearest.reduce((s, n) => s + n.y, 0) / k;
    });
}
