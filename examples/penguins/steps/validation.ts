import { brier, calibrationBins } from '../lib/calibration.ts';
import { confusion, threshold } from '../lib/classification.ts';
import { toCsv } from '../lib/csv.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { revealedWindows, windowCohort } from '../lib/feed.ts';
import { modelVersion, readModel, readPenguins } from '../lib/io.ts';
import { predict } from '../lib/model.ts';
import { label, type Penguin } from '../lib/penguins.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { gateBounds, holds, readTrainFile } from '../lib/train-file.ts';
import { exists, type Report, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/**
 * Validation: score the current model on held-out birds no step has used to choose anything: the test
 * split and the validate cohort of every window seen so far. By segment, with calibration; the quality
 * bar is the train's own validation gate.
 */
export async function run(ctx: StepContext): Promise<Report> {
  const bar = gateBounds(readTrainFile(ctx), ctx.phase).filter(
    (g) => g.metric === 'auc' || g.metric === 'f1',
  );
  const meetsBar = (q: { auc: number; f1: number }) =>
    bar.every((g) => holds(g, g.metric === 'auc' ? q.auc : q.f1));
  const barText = bar.map((g) => `${g.metric} ${g.op} ${g.value}`).join(' and ') || 'none declared';
  const model = readModel(ctx);
  const version = modelVersion(model);
  const parts = [
    { set: 'test', rows: readPenguins(ctx, 'data/splits/test.csv') },
    ...revealedWindows(ctx).map((n) => ({
      set: `window-${n}/validate`,
      rows: windowCohort(ctx, n, 'validate'),
    })),
  ];
  recordDataUse(
    ctx,
    parts.map((p) => ({ set: p.set, purpose: 'validate' as const, rows: p.rows })),
  );
  const test = parts.flatMap((p) => p.rows);
  const setOf = parts.flatMap((p) => p.rows.map(() => p.set));
  const scores = predict(model, test);
  const y = test.map(label);
  const q = scoreQuality(test, scores);
  const c = confusion(y, threshold(scores));
  const segments = (['set', 'species', 'island'] as const).flatMap((col) =>
    [...new Set(test.map((p, i) => (col === 'set' ? setOf[i]! : p[col])))].sort().map((level) => {
      const idx = test
        .map((p, i) => [p, i] as const)
        .filter(([p, i]) => (col === 'set' ? setOf[i] : p[col]) === level);
      const rows: Penguin[] = idx.map(([p]) => p);
      const sq = scoreQuality(
        rows,
        idx.map(([, i]) => scores[i]!),
      );
      const weak = Number.isNaN(sq.auc) || !meetsBar(sq);
      return { segment: `${col}=${level}`, ...sq, auc: Number.isNaN(sq.auc) ? null : sq.auc, weak };
    }),
  );
  const calibration = calibrationBins(y, scores).map((b) => ({
    ...b,
    predicted: round(b.predicted),
    observed: round(b.observed),
  }));
  const brierScore = round(brier(y, scores));
  // For the record: the model this one replaced, on the same held-out birds.
  const previous = exists(ctx, 'models/champion-previous.json')
    ? readModel(ctx, 'models/champion-previous.json')
    : null;
  const replaced = previous
    ? parts.map((p) => ({
        set: p.set,
        current: scoreQuality(p.rows, predict(model, p.rows)).auc,
        previous: scoreQuality(p.rows, predict(previous, p.rows)).auc,
      }))
    : [];
  const precision = round(c.tp / Math.max(1, c.tp + c.fp));
  const recall = round(c.tp / Math.max(1, c.tp + c.fn));

  writeJson(ctx, 'reports/validation.json', {
    auc: q.auc,
    accuracy: q.accuracy,
    f1: q.f1,
    precision,
    recall,
    brier: brierScore,
    n: q.n,
    threshold: 0.5,
    confusion: c,
    model_version: version,
    held_out: parts.map((p) => ({ set: p.set, rows: p.rows.length })),
    quality_bar: barText,
    previous_champion: previous ? { version: modelVersion(previous), auc_by_set: replaced } : null,
    segments,
    calibration,
  });
  writeText(
    ctx,
    'reports/predictions.csv',
    toCsv(
      test.map((p, i) => ({
        id: p.id,
        set: setOf[i]!,
        y_true: y[i]!,
        y_score: round(scores[i]!, 6),
        species: p.species,
        island: p.island,
      })),
      ['id', 'set', 'y_true', 'y_score', 'species', 'island'],
    ),
  );
  const weak = segments.filter((s) => s.weak);
  const notes = [
    '# Validation',
    '',
    `Model ${version} (${model.training.window}, ${model.training.rows} rows) on ${q.n} held-out birds no step used to choose anything: ${parts.map((p) => `${p.set} (${p.rows.length})`).join(', ')}.`,
    '',
    mdTable(
      ['AUC', 'Accuracy', 'F1', 'Precision', 'Recall', 'Brier'],
      [[q.auc, q.accuracy, q.f1, precision, recall, brierScore]],
    ),
    '',
    `Confusion at 0.5: ${c.tp} true male, ${c.tn} true female, ${c.fp} females called male, ${c.fn} males called female.`,
    '',
    '## Segments',
    mdTable(
      ['Segment', 'Birds', 'AUC', 'Accuracy', 'F1', 'Below bar'],
      segments.map((s) => [s.segment, s.n, s.auc ?? 'n/a', s.accuracy, s.f1, s.weak ? 'YES' : 'no']),
    ),
    '',
    weak.length
      ? `Segments below the train's bar (${barText}): ${weak.map((s) => s.segment).join(', ')}; small segments, read with care.`
      : `No segment falls below the train's bar (${barText}), though segments under 20 birds are noisy.`,
    ...(previous
      ? [
          '',
          `## Against the model it replaced (${modelVersion(previous)})`,
          mdTable(
            ['Held-out set', 'AUC now', 'AUC before'],
            replaced.map((r) => [r.set, r.current, r.previous]),
          ),
        ]
      : []),
    '',
    '## Calibration',
    mdTable(
      ['Probability bin', 'Birds', 'Mean predicted', 'Observed male rate'],
      calibration.map((b) => [`${b.from.toFixed(1)}-${b.to.toFixed(1)}`, b.n, b.predicted, b.observed]),
    ),
    '',
    '## Limitations and failure modes',
    '- Trained on 2007-2009 birds from three islands; other colonies or years may differ.',
    '- Body mass changes with season and breeding stage; a heavy season pushes females towards "male".',
    '- Birds whose measurements sit between the sexes get probabilities near 0.5: they must be blood-sampled.',
    `- ${q.n} held-out birds give an AUC with a standard error of roughly 0.02; small segments are noisier still.`,
    '',
  ].join('\n');
  writeText(ctx, 'reports/validation.md', notes);

  return {
    ticks: [
      'score-test-split',
      'record-metrics',
      'analyse-segments',
      'write-limitations',
      'check-calibration',
    ],
    artifacts: [
      { id: 'validation-report', path: 'reports/validation.json' },
      { id: 'validation-notes', path: 'reports/validation.md' },
      { id: 'test-predictions', path: 'reports/predictions.csv' },
    ],
    metrics: { auc: q.auc, accuracy: q.accuracy, f1: q.f1 },
    context: [
      {
        kind: 'fact',
        text: `Held-out birds (${q.n}: ${parts.map((p) => p.set).join(', ')}): AUC ${q.auc}, accuracy ${q.accuracy}, F1 ${q.f1}, Brier ${brierScore}.`,
      },
      ...weak.map((s) => ({
        kind: 'risk' as const,
        text: `Segment ${s.segment} is below the bar (AUC ${s.auc}, F1 ${s.f1}).`,
      })),
      {
        kind: 'risk',
        text: 'Seasonal body-mass changes may shift scores; monitoring watches the score distribution.',
      },
    ],
    summary: `Validated ${version} on ${q.n} held-out birds: AUC ${q.auc}, accuracy ${q.accuracy}, F1 ${q.f1}.`,
  };
}
