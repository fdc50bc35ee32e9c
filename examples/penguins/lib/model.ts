import LogisticRegression, { type LogisticRegressionJson } from 'ml-logistic-regression';
import { Matrix } from 'ml-matrix';
import { encode, type FeatureSpec, featureNames, fitFeatures } from './features.ts';
import { label, type Penguin } from './penguins.ts';
import { installedVersion } from './versions.ts';

/** Gradient-ascent settings of the library (its learning rate multiplies the summed gradient). */
export interface Hyperparameters {
  numSteps: number;
  learningRate: number;
}

/** The saved model: feature spec fitted on its own training rows, readable weights and the library's state. */
export interface ModelFile {
  format: 'penguins-logreg/1';
  target: string;
  library: { name: string; version: string };
  hyperparameters: Hyperparameters;
  features: FeatureSpec;
  coefficients: Record<string, number>;
  training: { rows: number; window: string };
  library_model: LogisticRegressionJson;
}

/** Defaults chosen in the training phase's tuning (see reports/training.md). */
export const DEFAULT_HYPERPARAMETERS: Hyperparameters = { numSteps: 1000, learningRate: 0.005 };

/** Name and installed version of the model library. */
export function libraryInfo(): { name: string; version: string } {
  return { name: 'ml-logistic-regression', version: installedVersion('ml-logistic-regression') };
}

/** Design matrix with a leading column of ones for the intercept (the library fits none itself). */
function design(spec: FeatureSpec, rows: readonly Penguin[]): Matrix {
  return new Matrix(rows.map((p) => [1, ...encode(spec, p)]));
}

/** Fit standardisation on the rows, then logistic regression with ml-logistic-regression. */
export function trainModel(
  rows: readonly Penguin[],
  hp: Hyperparameters = DEFAULT_HYPERPARAMETERS,
  window = 'train',
): ModelFile {
  const spec = fitFeatures(rows);
  const lr = new LogisticRegression({ numSteps: hp.numSteps, learningRate: hp.learningRate });
  lr.train(design(spec, rows), Matrix.columnVector(rows.map(label)));
  const json = JSON.parse(JSON.stringify(lr.toJSON())) as LogisticRegressionJson;
  // One-vs-all coding in the library: classifier 0 learns "class is not 0", i.e. P(male).
  const w = json.classifiers[0]!.weights[0]!;
  const names = ['intercept', ...featureNames(spec)];
  return {
    format: 'penguins-logreg/1',
    target: 'sex: 1 = male, 0 = female',
    library: libraryInfo(),
    hyperparameters: hp,
    features: spec,
    coefficients: Object.fromEntries(names.map((n, i) => [n, w[i] ?? 0])),
    training: { rows: rows.length, window },
    library_model: json,
  };
}

const loaded = new WeakMap<ModelFile, LogisticRegression>();

/** P(male) for each row, computed by the library from the saved state. */
export function predict(model: ModelFile, rows: readonly Penguin[]): number[] {
  if (!rows.length) return [];
  let lr = loaded.get(model);
  if (!lr) {
    lr = LogisticRegression.load(model.library_model);
    loaded.set(model, lr);
  }
  return lr.classifiers[0]!.testScores(design(model.features, rows));
}

/** Serialise a model for models/*.json. */
export function modelToJson(model: ModelFile): string {
  return JSON.stringify(model, null, 2) + '\n';
}

/** Parse a saved model, checking its format tag. */
export function modelFromJson(text: string): ModelFile {
  const m = JSON.parse(text) as ModelFile;
  if (m.format !== 'penguins-logreg/1') throw new Error(`not a penguins model: format ${String(m.format)}`);
  return m;
}
