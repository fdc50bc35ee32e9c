import { recordDataUse } from '../lib/data-use.ts';
import { errorsBySegment } from '../lib/errors.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { revealedWindows, windowCohort } from '../lib/feed.ts';
import { modelVersion, readModel, readPenguins } from '../lib/io.ts';
import { predict } from '../lib/model.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, type StepContext, writeText } from '../lib/workspace.ts';

/**
 * Improvement: error analysis of the deployed model on the latest window's fit cohort (labelled birds a
 * challenger may train on) against the validation split, root causes and a roadmap.
 */
export async function run(ctx: StepContext): Promise<Report> {
  const model = readModel(ctx);
  const version = modelVersion(model);
  const windows = revealedWindows(ctx);
  const latest = windows.at(-1);
  if (latest === undefined) throw new Error('no monitoring window has been revealed yet: nothing to analyse');
  const windowName = `window-${latest}/fit`;
  // "test" below is the ordinary reference (the validation split); "shifted" the latest season.
  const test = readPenguins(ctx, 'data/splits/valid.csv');
  const shifted = windowCohort(ctx, latest, 'fit');
  recordDataUse(ctx, [
    { set: 'valid', purpose: 'analyse', rows: test },
    { set: windowName, purpose: 'analyse', rows: shifted },
  ]);
  const testScores = predict(model, test);
  const shiftedScores = predict(model, shifted);
  const qTest = scoreQuality(test, testScores);
  const qShift = scoreQuality(shifted, shiftedScores);
  const segTest = errorsBySegment(test, testScores);
  const segShift = errorsBySegment(shifted, shiftedScores);
  const worst = segShift[0]!;
  const fpShift = segShift.reduce((t, s) => t + s.femalesCalledMale, 0);
  const fnShift = segShift.reduce((t, s) => t + s.malesCalledFemale, 0);
  // The season is a shortfall when the model does clearly worse there than on ordinary birds.
  const shiftHurts = qShift.accuracy < qTest.accuracy - 0.05;
  const sawShift = model.training.window.includes(`window-${latest}/`);
  const massWeight = model.coefficients.body_mass_g ?? 0;
  // How much heavier each sex is this season than in the validation split (same species mix or not).
  const massShift = (sex: 'female' | 'male') => {
    const m = (rows: typeof test) => {
      const xs = rows.filter((p) => p.sex === sex).map((p) => p.body_mass_g);
      return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    };
    return round((m(shifted) / m(test) - 1) * 100, 1);
  };
  const femaleShift = massShift('female');
  const maleShift = massShift('male');
  const table = (rows: ReturnType<typeof errorsBySegment>) =>
    mdTable(
      [
        'Segment',
        'Birds',
        'Errors',
        'Error rate',
        'Females called male',
        'Males called female',
        'Mean score',
      ],
      rows.map((s) => [
        s.segment,
        s.n,
        s.errors,
        s.errorRate,
        s.femalesCalledMale,
        s.malesCalledFemale,
        s.meanScore,
      ]),
    );
  const causes = shiftHurts
    ? [
        `1. **Errors in window ${latest}** (accuracy ${qShift.accuracy} against ${qTest.accuracy} on the validation split; females called male: ${fpShift}, males called female: ${fnShift}; worst segment ${worst.segment}, error rate ${worst.errorRate}).`,
        `   Cause (data): mean body mass this season is ${femaleShift}% off for females and ${maleShift}% for males against the validation split,`,
        `   and the model weighs body mass at ${massWeight.toFixed(2)} log-odds per standard deviation, so ${fpShift >= fnShift ? 'heavier females look male' : 'lighter males look female'}.`,
        '   The season (breeding stage) is not a recorded feature, so the model cannot tell a heavy female from a male.',
      ]
    : [
        `1. **No shortfall in window ${latest}** (accuracy ${qShift.accuracy} against ${qTest.accuracy} on the validation split; females called male: ${fpShift}, males called female: ${fnShift}).`,
        sawShift
          ? `   The model was fitted on ${windowName}, so these figures are optimistic; the select cohort decides in retraining.`
          : '   The model copes with this season.',
      ];
  const rootCauses = [
    '# Root causes',
    '',
    `Model ${version} (${model.training.window}). Validation split: AUC ${qTest.auc}, accuracy ${qTest.accuracy}.`,
    `Latest season (${windowName}, ${shifted.length} labelled birds): AUC ${qShift.auc}, accuracy ${qShift.accuracy}.`,
    '',
    '## Errors by segment: validation split',
    table(segTest),
    '',
    `## Errors by segment: ${windowName}`,
    table(segShift),
    '',
    '## Shortfalls and causes',
    ...causes,
    `2. **Residual errors on ordinary birds** (validation error rate ${round(1 - qTest.accuracy, 4)}; worst segment ${segTest[0]!.segment}, error rate ${segTest[0]!.errorRate}).`,
    '   Cause (model): one linear boundary for three species; small birds of the larger sex overlap the other sex.',
    '3. **Process**: production labels arrive three weeks after capture, so drift is seen late.',
    '',
  ].join('\n');
  writeText(ctx, 'docs/root-causes.md', rootCauses);

  const windowPlan = ['train', ...windows.map((n) => `window-${n}/fit`)].join(' + ');
  const roadmap = [
    '# Improvement roadmap',
    '',
    mdTable(
      ['Priority', 'Improvement', 'Expected value', 'Effort'],
      [
        [
          1,
          `Retrain on ${windowPlan}`,
          shiftHurts
            ? "high: the model sees this season's birds and relies less on body mass"
            : 'low to medium: fresher data, little drift left to fix',
          'low',
        ],
        [
          2,
          'Track mean body mass per week and alert before the score PSI moves',
          'medium: earlier warning',
          'low',
        ],
        [
          3,
          'Record capture date and breeding stage, then add stage as a feature',
          'high, long term',
          'medium',
        ],
        [4, 'Species-specific slopes (interactions)', 'low: small gain, less explainable', 'medium'],
      ],
    ),
    '',
    '## Retraining plan',
    `- Data window: ${windowPlan} (labels from lab sexing).`,
    '- Features: unchanged (data/features.json), scalers refitted on the new window.',
    `- Model: logistic regression, same hyperparameters (${model.hyperparameters.numSteps} steps, learning rate ${model.hyperparameters.learningRate}).`,
    `- Comparison window: window ${latest}'s select cohort (fitted by neither model, never scored by validation).`,
    '- Promote only if the challenger is measurably better there (a paired bootstrap of the AUC gain stays above 0 at the 5th percentile).',
    "- Validation then scores the test split and every window's validate cohort: birds no step chose with.",
    '',
  ].join('\n');
  writeText(ctx, 'docs/improvement-roadmap.md', roadmap);

  return {
    ticks: ['analyse-errors', 'find-root-causes', 'prioritise-roadmap', 'plan-retraining'],
    artifacts: [
      { id: 'root-causes', path: 'docs/root-causes.md' },
      { id: 'improvement-roadmap', path: 'docs/improvement-roadmap.md' },
    ],
    metrics: {},
    context: [
      {
        kind: 'fact',
        text: `${windowName}: ${fpShift} females called male vs ${fnShift} males called female; accuracy ${qShift.accuracy} vs ${qTest.accuracy} on the validation split.`,
      },
      {
        kind: 'decision',
        text: `Retraining plan: window ${windowPlan}; same features and hyperparameters; compare on window-${latest}/select; promote only if measurably better.`,
      },
    ],
    summary: `Analysed errors of ${version} (validation accuracy ${qTest.accuracy}, ${windowName} ${qShift.accuracy}) and planned a retrain on ${windowPlan}.`,
  };
}
