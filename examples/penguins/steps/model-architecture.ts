import { knn, massRule, type Scorer } from '../lib/baselines.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { fitFeatures } from '../lib/features.ts';
import { readPenguins } from '../lib/io.ts';
import { DEFAULT_HYPERPARAMETERS, predict, trainModel } from '../lib/model.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, type StepContext, writeText } from '../lib/workspace.ts';

/** Model architecture: a rule baseline and two model families compared on the validation split. */
export async function run(ctx: StepContext): Promise<Report> {
  const train = readPenguins(ctx, 'data/splits/train.csv');
  const valid = readPenguins(ctx, 'data/splits/valid.csv');
  recordDataUse(ctx, [
    { set: 'train', purpose: 'fit', rows: train },
    { set: 'valid', purpose: 'choose', rows: valid },
  ]);
  const spec = fitFeatures(train);
  const lr = trainModel(train, DEFAULT_HYPERPARAMETERS);
  const candidates: { name: string; family: string; scorer: Scorer; cut: number; explain: string }[] = [
    {
      name: 'Baseline: body mass within species',
      family: 'rule',
      scorer: massRule(train),
      cut: 0,
      explain: 'Male when heavier than the species mean; fully transparent.',
    },
    {
      name: 'Logistic regression (ml-logistic-regression)',
      family: 'linear',
      scorer: (rows) => predict(lr, rows),
      cut: 0.5,
      explain: 'One weight per feature; log-odds add up, easy to show on the tablet.',
    },
    {
      name: 'k-nearest neighbours (k = 7)',
      family: 'instance-based',
      scorer: knn(train, spec, 7),
      cut: 0.5,
      explain: 'No weights to show; a prediction is "these 7 birds were mostly male".',
    },
  ];
  const results = candidates.map((c) => ({ ...c, q: scoreQuality(valid, c.scorer(valid), c.cut) }));
  const [baseline, logistic, neighbours] = results as [
    (typeof results)[0],
    (typeof results)[0],
    (typeof results)[0],
  ];
  const chosen = logistic;
  const doc = [
    '# Model design',
    '',
    '## Candidates on the validation split',
    `Trained on the ${train.length} training birds, scored on the ${valid.length} validation birds.`,
    '',
    mdTable(
      ['Candidate', 'Family', 'AUC', 'Accuracy', 'F1', 'Explainability'],
      results.map((r) => [r.name, r.family, r.q.auc, r.q.accuracy, r.q.f1, r.explain]),
    ),
    '',
    '## Choice',
    `**${chosen.name}** on the ${spec.numeric.length} standardised measurements plus species and island`,
    'one-hot (reference levels dropped), with an intercept column added because the library fits none.',
    '',
    `- Accuracy: AUC ${chosen.q.auc} on validation against ${baseline.q.auc} for the rule baseline and ${neighbours.q.auc} for k-NN.`,
    '- Explainability: the ethics committee and technicians can read one weight per measurement.',
    '- Latency and cost: a dot product per bird; microseconds, no GPU, a model file of a few kB.',
    '- Calibration: logistic regression outputs probabilities, which the confident/unsure flag needs.',
    '',
    '## Alternatives rejected',
    `- The rule baseline (AUC ${baseline.q.auc}) ignores bill shape and needs a threshold per species; kept as the comparison floor.`,
    `- k-NN (AUC ${neighbours.q.auc}) must ship the training birds, cannot explain a prediction by measurement, and its`,
    '  scores come in steps of 1/7, too coarse for a confidence flag.',
    '- Tree ensembles (e.g. ml-random-forest) were not needed: a linear model already clears the bar on',
    '  a few hundred birds, and would be harder to explain.',
    '',
    '## Experiment plan (training phase)',
    "- Hyperparameters worth tuning: number of gradient steps and learning rate of the library's batch",
    '  gradient ascent; a small grid, chosen by validation AUC, ties to the fewer steps.',
    '- Fixed seeds: split seed 42; the library starts from zero weights and is deterministic.',
    '- The test split stays untouched until validation.',
    '',
  ].join('\n');
  writeText(ctx, 'docs/model-design.md', doc);

  return {
    ticks: ['fit-baseline', 'compare-candidates', 'choose-architecture', 'plan-experiments'],
    artifacts: [{ id: 'model-design', path: 'docs/model-design.md' }],
    metrics: {},
    context: [
      {
        kind: 'decision',
        text: `Chose ${chosen.name} (validation AUC ${chosen.q.auc}) over the rule baseline (${baseline.q.auc}) and k-NN (${neighbours.q.auc}) for explainability and calibrated probabilities.`,
      },
      {
        kind: 'fact',
        text: `Rule baseline on validation: AUC ${baseline.q.auc}, accuracy ${baseline.q.accuracy}.`,
      },
    ],
    summary: `Compared ${results.length} candidates on validation and chose logistic regression (AUC ${chosen.q.auc}).`,
  };
}
