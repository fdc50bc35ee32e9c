import { isDeepStrictEqual } from 'node:util';
import { rocAuc } from '../lib/auc.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import type { FeatureSpec } from '../lib/features.ts';
import { readPenguins, writeModel } from '../lib/io.ts';
import { type Hyperparameters, predict, trainModel } from '../lib/model.ts';
import { label } from '../lib/penguins.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, readJson, type StepContext, writeText } from '../lib/workspace.ts';

/** The tuning grid: gradient steps and learning rate of the library. */
const GRID: Hyperparameters[] = [
  { numSteps: 300, learningRate: 0.005 },
  { numSteps: 1000, learningRate: 0.005 },
  { numSteps: 3000, learningRate: 0.005 },
  { numSteps: 1000, learningRate: 0.02 },
];

/** Training: tune on validation, fit on train, save models/model.json. The test split is not read. */
export async function run(ctx: StepContext): Promise<Report> {
  const train = readPenguins(ctx, 'data/splits/train.csv');
  const valid = readPenguins(ctx, 'data/splits/valid.csv');
  recordDataUse(ctx, [
    { set: 'train', purpose: 'fit', rows: train },
    { set: 'valid', purpose: 'choose', rows: valid },
  ]);
  const experiments = GRID.map((hp) => {
    const m = trainModel(train, hp);
    return {
      hp,
      m,
      trainAuc: round(rocAuc(train.map(label), predict(m, train))),
      v: scoreQuality(valid, predict(m, valid)),
    };
  });
  const best = [...experiments].sort((a, b) => b.v.auc - a.v.auc || a.hp.numSteps - b.hp.numSteps)[0]!;
  const model = best.m;
  const spec = readJson<{ spec: FeatureSpec }>(ctx, 'data/features.json').spec;
  if (!isDeepStrictEqual(spec, model.features))
    throw new Error("the model's features differ from data/features.json");
  writeModel(ctx, 'models/model.json', model);

  const log = [
    '# Training log',
    '',
    `Model: logistic regression from ${model.library.name} ${model.library.version} (pinned exactly in package.json),`,
    `on ${train.length} training birds; features as in data/features.json plus an intercept column.`,
    'Seeds: the split is seeded (42); the library starts from zero weights and uses full-batch gradient',
    'ascent, so a run is exactly repeatable. The test split was not read.',
    '',
    '## Experiments',
    mdTable(
      ['#', 'numSteps', 'learningRate', 'Train AUC', 'Valid AUC', 'Valid accuracy', 'Valid F1'],
      experiments.map((e, i) => [
        i + 1,
        e.hp.numSteps,
        e.hp.learningRate,
        e.trainAuc,
        e.v.auc,
        e.v.accuracy,
        e.v.f1,
      ]),
    ),
    '',
    `Chosen: numSteps ${best.hp.numSteps}, learningRate ${best.hp.learningRate} (best validation AUC, ties to fewer steps).`,
    '',
    '## Coefficients (log-odds of male per standard deviation or per level)',
    mdTable(
      ['Term', 'Weight'],
      Object.entries(model.coefficients).map(([k, v]) => [k, round(v, 4)]),
    ),
    '',
  ].join('\n');
  writeText(ctx, 'reports/training.md', log);

  return {
    ticks: ['fix-seeds', 'train-model', 'log-experiments', 'record-train-auc', 'tune-hyperparameters'],
    artifacts: [
      { id: 'model', path: 'models/model.json' },
      { id: 'training-log', path: 'reports/training.md' },
    ],
    metrics: { train_auc: best.trainAuc },
    context: [
      {
        kind: 'decision',
        text: `Hyperparameters numSteps ${best.hp.numSteps}, learningRate ${best.hp.learningRate}: best validation AUC ${best.v.auc} of ${GRID.length} runs.`,
      },
      {
        kind: 'fact',
        text: `Model library ${model.library.name} ${model.library.version}; train AUC ${best.trainAuc}.`,
      },
    ],
    summary: `Ran ${GRID.length} experiments and saved the best logistic regression (train AUC ${best.trainAuc}).`,
  };
}
