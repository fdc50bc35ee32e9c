import { rocAuc } from '../lib/auc.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { readPenguins } from '../lib/io.ts';
import { label, MEASUREMENTS, type Penguin } from '../lib/penguins.ts';
import { mean, quantile, round, std } from '../lib/stats.ts';
import { histogramSvg } from '../lib/svg.ts';
import { mdTable } from '../lib/template.ts';
import { type Report, type StepContext, writeText } from '../lib/workspace.ts';

/** Share of males, rounded. */
const maleShare = (rows: readonly Penguin[]) =>
  round(rows.filter((p) => label(p) === 1).length / rows.length, 3);

/** Exploration: profile of the training split and a body-mass histogram by sex. */
export async function run(ctx: StepContext): Promise<Report> {
  const train = readPenguins(ctx, 'data/splits/train.csv');
  recordDataUse(ctx, [{ set: 'train', purpose: 'analyse', rows: train }]);
  const y = train.map(label);
  const species = [...new Set(train.map((p) => p.species))].sort();
  const islands = [...new Set(train.map((p) => p.island))].sort();

  const numericRows = MEASUREMENTS.map((m) => {
    const xs = train.map((p) => p[m]);
    return [
      m,
      xs.length,
      0,
      new Set(xs).size,
      round(mean(xs), 1),
      round(std(xs), 1),
      Math.min(...xs),
      round(quantile(xs, 0.5), 1),
      Math.max(...xs),
    ];
  });
  const aucs = MEASUREMENTS.map((m) => {
    const overall = rocAuc(
      y,
      train.map((p) => p[m]),
    );
    const within = species.map((sp) => {
      const rows = train.filter((p) => p.species === sp);
      return rocAuc(
        rows.map(label),
        rows.map((p) => p[m]),
      );
    });
    return { m, overall, within };
  });
  const dimorphism = species.flatMap((sp) =>
    MEASUREMENTS.map((m) => {
      const rows = train.filter((p) => p.species === sp);
      const mm = mean(rows.filter((p) => p.sex === 'male').map((p) => p[m]));
      const ff = mean(rows.filter((p) => p.sex === 'female').map((p) => p[m]));
      return [sp, m, round(ff, 1), round(mm, 1), `${round(((mm - ff) / ff) * 100, 1)}%`];
    }),
  );
  const best = [...aucs].sort((a, b) => mean(b.within) - mean(a.within))[0]!;
  const massByMale = train.filter((p) => p.sex === 'male').map((p) => p.body_mass_g);
  const massByFemale = train.filter((p) => p.sex === 'female').map((p) => p.body_mass_g);

  const heaviest = (sp: string, sex: string) =>
    Math.max(...train.filter((p) => p.species === sp && p.sex === sex).map((p) => p.body_mass_g));
  const bigFemale = [...species].sort((a, b) => heaviest(b, 'female') - heaviest(a, 'female'))[0]!;
  const smallMale = [...species].sort((a, b) => heaviest(a, 'male') - heaviest(b, 'male'))[0]!;
  const share = maleShare(train);
  const hypotheses = [
    `Within each species males are larger on every measurement; ${best.m} separates the sexes best within species (mean AUC ${round(mean(best.within), 3)}).`,
    `Across species the sizes overlap (the heaviest female ${bigFemale}, ${heaviest(bigFemale, 'female')} g, outweighs the heaviest male ${smallMale}, ${heaviest(smallMale, 'male')} g), so species must be a feature; a linear model with species offsets should work.`,
    'Island adds little once species is known (Adelie live on all three islands); keep it as a weak feature and check its weight.',
    share > 0.4 && share < 0.6
      ? `The classes are balanced (${share} male), so accuracy and F1 at 0.5 are meaningful alongside AUC.`
      : `The classes are imbalanced (${share} male): prefer AUC and tune the threshold.`,
  ];
  const profile = [
    '# Data profile (training split only)',
    '',
    `${train.length} birds in the training split. Missing values: none (rows with missing values were dropped in preparation).`,
    '',
    '## Numeric columns',
    mdTable(['Column', 'Count', 'Missing', 'Distinct', 'Mean', 'Std', 'Min', 'Median', 'Max'], numericRows),
    '',
    '## Categorical columns',
    mdTable(
      ['Column', 'Cardinality', 'Counts'],
      [
        [
          'species',
          species.length,
          species.map((s) => `${s} ${train.filter((p) => p.species === s).length}`).join(', '),
        ],
        [
          'island',
          islands.length,
          islands.map((s) => `${s} ${train.filter((p) => p.island === s).length}`).join(', '),
        ],
      ],
    ),
    '',
    '## Target balance',
    `Share male overall: ${maleShare(train)}. The source has no date, so balance over time cannot be measured; balance by segment instead:`,
    '',
    mdTable(
      ['Segment', 'Birds', 'Share male'],
      [
        ...species.map((s) => {
          const r = train.filter((p) => p.species === s);
          return [`species=${s}`, r.length, maleShare(r)];
        }),
        ...islands.map((s) => {
          const r = train.filter((p) => p.island === s);
          return [`island=${s}`, r.length, maleShare(r)];
        }),
      ],
    ),
    '',
    '## Relationships with the target',
    'ROC AUC of each measurement alone for "male" (0.5 = no signal), overall and within each species:',
    '',
    mdTable(
      ['Measurement', 'Overall', ...species],
      aucs.map((a) => [a.m, round(a.overall, 3), ...a.within.map((w) => round(w, 3))]),
    ),
    '',
    'Mean by sex within species (sexual dimorphism):',
    '',
    mdTable(['Species', 'Measurement', 'Female', 'Male', 'Male vs female'], dimorphism),
    '',
    '![Body mass by sex](profile.svg)',
    '',
    '## Modelling hypotheses',
    ...hypotheses.map((h, i) => `${i + 1}. ${h}`),
    '',
  ].join('\n');
  writeText(ctx, 'reports/profile.md', profile);
  writeText(
    ctx,
    'reports/profile.svg',
    histogramSvg(
      'Body mass by sex (training split)',
      'body mass (g), 250 g bins',
      [
        { name: 'female', color: '#c2185b', values: massByFemale },
        { name: 'male', color: '#1565c0', values: massByMale },
      ],
      250,
    ),
  );

  return {
    ticks: ['profile-features', 'check-target-balance', 'find-relationships', 'write-hypotheses'],
    artifacts: [
      { id: 'profile-report', path: 'reports/profile.md' },
      { id: 'profile-plot', path: 'reports/profile.svg' },
    ],
    metrics: {},
    context: [
      { kind: 'fact', text: `Target balance in the training split: ${share} male of ${train.length}.` },
      {
        kind: 'fact',
        text: `Strongest single signal within species: ${best.m} (mean within-species AUC ${round(mean(best.within), 3)}).`,
      },
      {
        kind: 'fact',
        text: 'Measurements overlap across species, so species is needed to compare like with like.',
      },
    ],
    summary: `Profiled ${train.length} training birds: ${MEASUREMENTS.length} measurements, balance ${maleShare(train)} male, ${hypotheses.length} hypotheses.`,
  };
}
