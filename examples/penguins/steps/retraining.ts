import { batchPath, heavySeason } from '../lib/drift.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { sha256 } from '../lib/hash.ts';
import { modelVersion, productionBatches, readModel, readPenguins, writeModel } from '../lib/io.ts';
import { modelToJson, predict, trainModel } from '../lib/model.ts';
import { type Report, type StepContext, writeJson } from '../lib/workspace.ts';

/** Retraining: a challenger on train + labelled production batches, promoted only if it beats the champion. */
export async function run(ctx: StepContext): Promise<Report> {
  const champion = readModel(ctx);
  const batches = productionBatches(ctx);
  const windowRows = [
    ...readPenguins(ctx, 'data/splits/train.csv'),
    ...batches.flatMap((name) => readPenguins(ctx, batchPath(name))),
  ];
  const window = ['train', ...batches].join(' + ');
  const dataSha = sha256(JSON.stringify(windowRows));
  const challenger = trainModel(windowRows, champion.hyperparameters, window);
  writeModel(ctx, 'models/challenger.json', challenger);

  // Held-out comparison window: the test birds as measured and in a heavy season. No training
  // window ever holds a test bird, so neither model has seen them.
  const test = readPenguins(ctx, 'data/splits/test.csv');
  const heldOut = [...test, ...heavySeason(test)];
  const champ = scoreQuality(heldOut, predict(champion, heldOut));
  const chall = scoreQuality(heldOut, predict(challenger, heldOut));
  const promoted = chall.auc > champ.auc ? 1 : 0;
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
    comparison_window: { rows: heldOut.length, what: 'test split + its heavy-season version' },
    champion: champ,
    challenger: chall,
    lineage: {
      training_window: window,
      rows: windowRows.length,
      data_sha256: dataSha,
      hyperparameters: challenger.hyperparameters,
      library: challenger.library,
      model_sha256: sha256(modelToJson(challenger)),
    },
  });

  const decision = promoted
    ? `Promoted challenger ${challengerVersion} (AUC ${chall.auc} > ${champ.auc}); previous champion kept as models/champion-previous.json.`
    : `Kept champion ${championVersion}: challenger AUC ${chall.auc} is not above ${champ.auc}.`;
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
        text: `Challenger trained on ${window} (${windowRows.length} rows, sha256 ${dataSha.slice(0, 16)}...).`,
      },
      { kind: 'decision', text: decision },
    ],
    summary: decision,
  };
}
