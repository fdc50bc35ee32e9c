import { loadBrief } from '../lib/brief.ts';
import { batchPath, heavySeason, RECENT_BATCH, remeasure, SHIFTED_BATCH } from '../lib/drift.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { modelVersion, readModel, readPenguins, writePenguins } from '../lib/io.ts';
import { predict } from '../lib/model.ts';
import { MEASUREMENTS } from '../lib/penguins.ts';
import { binShares, psi, quantileEdges } from '../lib/psi.ts';
import { mean, round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { exists, type Report, readJson, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/** PSI above this is drift that sends the project to improvement (the train's route). */
const PSI_ALERT = 0.2;

/** Seed of the instrument noise in the recent batch. */
const RECENT_SEED = 2026;

/** Monitoring: score this period's production batch and compare its scores with the reference. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const cut = b.success.confidence_cut;
  const model = readModel(ctx);
  const version = modelVersion(model);
  const promoted =
    exists(ctx, 'reports/retraining.json') &&
    readJson<{ promoted?: number }>(ctx, 'reports/retraining.json').promoted === 1;

  // The production cohort is the validation birds seen again in the field. Before any retraining
  // they come from a heavy pre-moult season (+20% body mass); after a promoted retrain they are
  // ordinary birds remeasured with normal instrument noise.
  const valid = readPenguins(ctx, 'data/splits/valid.csv');
  const batchName = promoted ? RECENT_BATCH : SHIFTED_BATCH;
  const batch = promoted ? remeasure(valid, RECENT_SEED) : heavySeason(valid);
  writePenguins(ctx, batchPath(batchName), batch);

  const reference = predict(model, valid);
  const scores = predict(model, batch);
  const drift = round(psi(reference, scores));
  const edges = quantileEdges(reference);
  const refShares = binShares(reference, edges);
  const batchShares = binShares(scores, edges);
  const inputPsi = Object.fromEntries(
    MEASUREMENTS.map((m) => [
      m,
      round(
        psi(
          valid.map((p) => p[m]),
          batch.map((p) => p[m]),
        ),
      ),
    ]),
  );
  const live = scoreQuality(batch, scores);
  const unsure = round(scores.filter((s) => s < cut && s > 1 - cut).length / scores.length);
  const fired = [
    drift > PSI_ALERT ? `score PSI ${drift} > ${PSI_ALERT}` : null,
    live.auc < b.success.min_auc ? `live AUC ${live.auc} < ${b.success.min_auc}` : null,
  ].filter((x): x is string => x !== null);

  writeJson(ctx, 'deploy/alerts.json', {
    on_call: b.operations.on_call,
    channel: b.operations.alert_channel,
    rules: [
      {
        metric: 'psi',
        op: '>',
        threshold: PSI_ALERT,
        action: 'page on-call; route the project to improvement',
      },
      { metric: 'live_auc', op: '<', threshold: b.success.min_auc, action: 'page on-call' },
      { metric: 'latency_p95_ms', op: '>=', threshold: b.success.max_latency_ms, action: 'page on-call' },
      { metric: 'unsure_rate', op: '>', threshold: 0.6, action: 'notify the field lead' },
    ],
  });
  writeJson(ctx, 'reports/monitoring.json', {
    psi: drift,
    batch: batchName,
    batch_path: batchPath(batchName),
    rows: batch.length,
    reference: { split: 'valid', rows: valid.length, scored_by: version },
    model_version: version,
    mean_score_reference: round(mean(reference)),
    mean_score_batch: round(mean(scores)),
    unsure_rate: unsure,
    input_psi: inputPsi,
    live_labels: live,
    score_bins: refShares.map((r, i) => ({
      upper_edge: i < edges.length ? round(edges[i]!) : 1,
      reference: round(r),
      batch: round(batchShares[i]!),
    })),
    alerts_fired: fired,
  });
  const dashboard = [
    `# Monitoring dashboard: ${batchName}`,
    '',
    `Model ${version}. Batch ${batchPath(batchName)}: ${batch.length} birds; reference: the same model's scores on the ${valid.length} validation birds.`,
    '',
    mdTable(
      ['Figure', 'Value', 'Alert when'],
      [
        ['Birds scored', batch.length, '-'],
        ['Score PSI (10 quantile bins)', drift, `> ${PSI_ALERT}`],
        ['Mean score reference / batch', `${round(mean(reference), 3)} / ${round(mean(scores), 3)}`, '-'],
        ['Unsure rate', unsure, '> 0.6'],
        ['Live AUC (lab labels)', live.auc, `< ${b.success.min_auc}`],
        ['Live error rate', round(1 - live.accuracy), '-'],
      ],
    ),
    '',
    '## Score distribution',
    mdTable(
      ['Bin (upper edge)', 'Reference share', 'Batch share'],
      refShares.map((r, i) => [
        i < edges.length ? round(edges[i]!, 3) : 1,
        round(r, 3),
        round(batchShares[i]!, 3),
      ]),
    ),
    '',
    '## Input drift (PSI per measurement)',
    mdTable(
      ['Measurement', 'PSI'],
      Object.entries(inputPsi).map(([m, v]) => [m, v]),
    ),
    '',
    `Alerts fired: ${fired.length ? fired.join('; ') : 'none'}. On call: ${b.operations.on_call} (${b.operations.alert_channel}).`,
    '',
  ].join('\n');
  writeText(ctx, 'reports/monitoring.md', dashboard);

  const worstInput = Object.entries(inputPsi).sort((a, b2) => b2[1] - a[1])[0]!;
  return {
    ticks: ['set-up-dashboards', 'configure-alerts', 'compute-drift', 'check-live-labels'],
    artifacts: [{ id: 'monitoring-report', path: 'reports/monitoring.json' }],
    metrics: { psi: drift },
    context: [
      {
        kind: 'fact',
        text: `Batch ${batchName}: score PSI ${drift}; live AUC ${live.auc}, accuracy ${live.accuracy}.`,
      },
      ...(drift > PSI_ALERT
        ? [
            {
              kind: 'risk' as const,
              text: `Incident: score drift PSI ${drift} > ${PSI_ALERT}; largest input drift in ${worstInput[0]} (PSI ${worstInput[1]}); mean score ${round(mean(reference), 3)} -> ${round(mean(scores), 3)}.`,
            },
          ]
        : [{ kind: 'note' as const, text: `No drift alert: PSI ${drift} <= ${PSI_ALERT}.` }]),
    ],
    summary: `Scored ${batch.length} birds of ${batchName} with ${version}: PSI ${drift}, live AUC ${live.auc}.`,
  };
}
