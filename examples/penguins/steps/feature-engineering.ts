import { rocAuc } from '../lib/auc.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { DESCRIPTIONS, encode, type FeatureSpec, featureNames, fitFeatures } from '../lib/features.ts';
import { readPenguins } from '../lib/io.ts';
import { label } from '../lib/penguins.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/** Source column of a feature name. */
function sourceOf(spec: FeatureSpec, name: string): string {
  return spec.numeric.find((s) => s.name === name)?.name ?? name.split('_')[0]!;
}

/** Feature engineering: fit scalers and encoders on train, document each feature, check for leakage. */
export async function run(ctx: StepContext): Promise<Report> {
  const train = readPenguins(ctx, 'data/splits/train.csv');
  recordDataUse(ctx, [{ set: 'train', purpose: 'fit', rows: train }]);
  const spec = fitFeatures(train);
  const names = featureNames(spec);
  const X = train.map((p) => encode(spec, p));
  const y = train.map(label);
  const univariate = names.map((_name, j) =>
    rocAuc(
      y,
      X.map((r) => r[j]!),
    ),
  );

  // Leakage checks: no target or identifier among the inputs, nothing that alone predicts the target
  // almost perfectly, and the standardised training columns have mean 0 (stats come from train only).
  const forbidden = names.filter((n) => /sex|^id$/.test(n));
  const tooGood = names.filter((_, j) => Math.abs(univariate[j]! - 0.5) > 0.49);
  const meanOff = spec.numeric.filter(
    (_s, j) => Math.abs(X.reduce((t, r) => t + r[j]!, 0) / X.length) > 1e-9,
  );
  if (forbidden.length || tooGood.length || meanOff.length) {
    throw new Error(
      `leakage check failed: target/id ${forbidden.join(',')}; too good ${tooGood.join(',')}; ${meanOff.length} scalers not from train`,
    );
  }

  const features = names.map((name) => {
    const num = spec.numeric.find((s) => s.name === name);
    const cat = spec.categorical.find((c) => name.startsWith(`${c.column}_`));
    return {
      name,
      source: sourceOf(spec, name),
      description: num
        ? DESCRIPTIONS[name]!
        : `${DESCRIPTIONS[cat!.column]}: 1 when ${cat!.column} is ${name.slice(cat!.column.length + 1)} (reference level ${cat!.reference})`,
      transformation: num
        ? `(x - ${round(num.mean, 4)}) / ${round(num.std, 4)}`
        : 'one-hot, reference level dropped',
    };
  });
  writeJson(ctx, 'data/features.json', {
    features,
    intercept: 'added by the model (a constant column)',
    fitted_on: { split: 'train', rows: train.length },
    spec,
    leakage_check: {
      target_or_id_inputs: forbidden,
      near_perfect_single_features: tooGood,
      scalers_fitted_on_train_only: meanOff.length === 0,
    },
  });
  writeText(
    ctx,
    'reports/features.md',
    [
      '# Features',
      '',
      `${names.length} features built by examples/penguins/lib/features.ts, fitted on the ${train.length} training birds only.`,
      'Measurements are standardised with the training mean and standard deviation; species and island are',
      'one-hot encoded with the first level (alphabetical) as the reference, absorbed by the intercept.',
      '',
      mdTable(
        ['Feature', 'Source', 'Transformation', 'AUC alone (train)'],
        features.map((f, j) => [f.name, f.source, f.transformation, round(univariate[j]!, 3)]),
      ),
      '',
      '## Leakage check',
      '- No input is the target (sex) or the row id.',
      '- Every feature is measured at the capture itself, so nothing comes from after the prediction point.',
      '- No single feature predicts sex almost perfectly (all AUCs within 0.01-0.99).',
      '- The standardised training columns have mean 0: the scalers were fitted on the training split only.',
      '',
    ].join('\n'),
  );

  return {
    ticks: ['build-features', 'document-features', 'check-leakage', 'record-feature-count'],
    artifacts: [
      { id: 'feature-spec', path: 'data/features.json' },
      { id: 'features-report', path: 'reports/features.md' },
    ],
    metrics: { feature_count: names.length },
    context: [
      { kind: 'decision', text: `Features: ${names.join(', ')}; scalers fitted on train only.` },
      { kind: 'fact', text: 'Leakage check passed: no target, id or future information among the inputs.' },
    ],
    summary: `Built ${names.length} features from the training split and documented them in data/features.json.`,
  };
}
