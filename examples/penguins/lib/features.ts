import { MEASUREMENTS, type Measurement, type Penguin } from './penguins.ts';
import { fitScale, type ScaleStats, scale } from './standardise.ts';

/** A categorical column one-hot encoded against a reference level (dropped, absorbed by the intercept). */
export interface OneHot {
  column: 'species' | 'island';
  reference: string;
  levels: string[];
}

/** Everything needed to turn a penguin into the model's feature vector; fitted on training rows only. */
export interface FeatureSpec {
  numeric: ScaleStats[];
  categorical: OneHot[];
}

/** What each source column means, for the feature documentation. */
export const DESCRIPTIONS: Record<string, string> = {
  bill_length_mm: 'Culmen (bill) length in mm, callipers, standardised with training mean/std',
  bill_depth_mm: 'Culmen (bill) depth in mm, callipers, standardised with training mean/std',
  flipper_length_mm: 'Flipper length in mm, ruler, standardised with training mean/std',
  body_mass_g: 'Body mass in g, spring scale, standardised with training mean/std',
  species: 'Species recorded by the observer, one-hot',
  island: 'Island of the nest site, one-hot',
};

/** Fit standardisation stats and one-hot levels on the given (training) rows. */
export function fitFeatures(train: readonly Penguin[]): FeatureSpec {
  const numeric = MEASUREMENTS.map((m: Measurement) =>
    fitScale(
      m,
      train.map((p) => p[m]),
    ),
  );
  const categorical = (['species', 'island'] as const).map((column) => {
    const levels = [...new Set(train.map((p) => p[column]))].sort();
    return { column, reference: levels[0]!, levels: levels.slice(1) };
  });
  return { numeric, categorical };
}

/** Feature names in vector order (the intercept is not a feature). */
export function featureNames(spec: FeatureSpec): string[] {
  return [
    ...spec.numeric.map((s) => s.name),
    ...spec.categorical.flatMap((c) => c.levels.map((l) => `${c.column}_${l.toLowerCase()}`)),
  ];
}

/** Encode one penguin as a feature vector (unknown categories encode as the reference level). */
export function encode(spec: FeatureSpec, p: Penguin): number[] {
  return [
    ...spec.numeric.map((s) => scale(s, p[s.name as Measurement])),
    ...spec.categorical.flatMap((c) => c.levels.map((l) => (p[c.column] === l ? 1 : 0))),
  ];
}
