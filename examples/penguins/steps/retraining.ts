import { recordDataUse } from '../lib/data-use.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { revealedWindows, windowCohort } from '../lib/feed.ts';
import { sha256 } from '../lib/hash.ts';
import { modelVersion, readModel, readPenguins, writeModel } from '../lib/io.ts';
import { modelToJson, predict, trainModel } from '../lib/model.ts';
import { label } from '../lib/penguins.ts';
import { pairedAucGain } from '../lib/significance.ts';
import { round } from '../lib/stats.ts';
import { type Report, type StepContext, writeJson } from '../lib/workspace.ts';

/**
 * Retraining: a challenger fitted on train plus the fit cohort of every window seen so far, compared
 * with the champion on the latest window's select cohort (birds neither model was fitted on, and that
 * validation never scores). Promoted only when measurably better there: the 5th percentile of a paired
 * bootstrap of the AUC gain is above zero.
 */
export async function run(ctx: StepContext): Promise<Report> {
  const champion = readModel(ctx);
  const windows = revealedWindows(ctx);
  const latest = windows.at(-1);
  if (latest === undefined)
    throw new Error('no monitoring window has been revealed yet: nothing to retrain on');
  const train = readPenguins(ctx, 'data/splits/train.csv');
  const fits = windows.map((n) => ({ n, rows: windowCohort(ctx, n, 'fit') }));
  const windowRows = [...train, ...fits.flatMap((f) => f.rows)];
  const trainingWindow = ['train', ...fits.map((f) => `window-${f.n}/fit`)].join(' + ');
  const select = windowCohort(ctx, latest, 'select');
  recordDataUse(ctx, [
    { set: 'train', purpose: 'fit', rows: train },
    ...fits.map((f) => ({ set: `window-${f.n}/fit`, purpose: 'fit' as const, rows: f.rows })),
    { set: `window-${latest}/select`, purpose: 'choose', rows: select },
  ]);

  const dataSha = sha256(JSON.stringify(windowRows));
  const challenger = trainModel(windowRows, champion.hyperparameters, trainingWindow);
  writeModel(ctx, 'models/challenger.json', challenger);

  const champScores = predict(champion, select);
  const challScores = predict(challenger, select);
  const champ = scoreQuality(select, champScores);
  const chall = scoreQuality(select, challScores);
  const g = pairedAucGain(select.map(label), champScores, challScores, { seed: latest });
  const gain = { gain: round(g.gain), low: round(g.low), high: round(g.high), resamples: g.resamples };
  const promoted = gain.low > 0 && chall.auc >= champ.auc ? 1 : 0;
  const championVersion = modelVersion(champion);
  const challengerVersion = modelVersion(challenger);
  if (promoted) {
    writeModel(ctx, 'models/champion-previous.json', champion);
    writeModel(ctx, 'models/model.json', challenger);
  }

  writeJson(ctx, 'reports/retraining.json', {
    challenger_auc: chall.auc,
    champion_auc: champ.auc,
    promoted,
    champion_version: championVersion,
    challenger_version: challengerVersion,
    comparison_window: {
      window: latest,
      cohort: 'select',
      rows: select.length,
      what: `window ${latest}'s select cohort: fitted by neither model, never scored by validation`,
    },
    auc_gain: { ...gain, rule: 'promote when the 5th percentile of the paired bootstrap gain is above 0' },
    champion: champ,
    challenger: chall,
    lineage: {
      training_window: trainingWindow,
      rows: windowRows.length,
      data_sha256: dataSha,
      hyperparameters: challenger.hyperparameters,
      library: challenger.library,
      model_sha256: sha256(modelToJson(challenger)),
    },
  });

  const interval = `gain ${gain.gain} (90% interval ${gain.low} to ${gain.high})`;
  const decision = promoted
    ? `Promoted challenger ${challengerVersion}: AUC ${chall.auc} vs ${champ.auc} on window ${latest}'s select cohort, ${interval}; previous champion kept as models/champion-previous.json.`
    : `Kept champion ${championVersion}: challenger AUC ${chall.auc} vs ${champ.auc} on window ${latest}'s select cohort is not measurably better (${interval}).`;
  return {
    ticks: [
      'refresh-data',
      'retrain-challenger',
      'compare-to-champion',
      'decide-promotion',
      'archive-lineage',
    ],
    artifacts: [
      { id: 'challenger-model', path: 'models/challenger.json' },
      { id: 'retraining-report', path: 'reports/retraining.json' },
    ],
    metrics: { challenger_auc: chall.auc, champion_auc: champ.auc, promoted },
    context: [
      {
        kind: 'fact',
        text: `Challenger trained on ${trainingWindow} (${windowRows.length} rows, sha256 ${dataSha.slice(0, 16)}...).`,
      },
      { kind: 'decision', text: decision },
    ],
    summary: decision,
  };
}
