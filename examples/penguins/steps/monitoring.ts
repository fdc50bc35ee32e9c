import { loadBrief } from '../lib/brief.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { revealNextWindow, windowPath } from '../lib/feed.ts';
import { modelVersion, readModel, readPenguins } from '../lib/io.ts';
import { predict } from '../lib/model.ts';
import { MEASUREMENTS } from '../lib/penguins.ts';
import { binShares, binsFor, noiseFloor, psi, quantileEdges } from '../lib/psi.ts';
import { mean, round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { holds, readTrainFile, routeBound } from '../lib/train-file.ts';
import { type Report, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/**
 * Monitoring: take the next window from the field feed, score it with the deployed model, and compare
 * its score distribution with the reference (the same model's scores on the birds the service was built
 * for: train and validation). Drift is what the train's own route says it is.
 */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const cut = b.success.confidence_cut;
  const drift = routeBound(readTrainFile(ctx), ctx.phase, 'psi');
  const model = readModel(ctx);
  const version = modelVersion(model);

  const window = revealNextWindow(ctx);
  const batch = window.rows;
  const refRows = [
    ...readPenguins(ctx, 'data/splits/train.csv'),
    ...readPenguins(ctx, 'data/splits/valid.csv'),
  ];
  recordDataUse(ctx, [
    { set: 'train+valid', purpose: 'monitor', rows: refRows },
    { set: `window-${window.n}`, purpose: 'monitor', rows: batch },
  ]);

  const bins = binsFor(refRows.length, batch.length, drift.value);
  const reference = predict(model, refRows);
  const scores = predict(model, batch);
  const value = round(psi(reference, scores, bins));
  const drifted = holds(drift, value);
  const edges = quantileEdges(reference, bins);
  const refShares = binShares(reference, edges);
  const batchShares = binShares(scores, edges);
  const inputPsi = Object.fromEntries(
    MEASUREMENTS.map((m) => [
      m,
      round(
        psi(
          refRows.map((p) => p[m]),
          batch.map((p) => p[m]),
          bins,
        ),
      ),
    ]),
  );
  const live = scoreQuality(batch, scores);
  const unsure = round(scores.filter((s) => s < cut && s > 1 - cut).length / scores.length);
  const floor = round(noiseFloor(bins, refRows.length, batch.length), 3);
  const rule = `psi ${drift.op} ${drift.value}`;
  const fired = [
    drifted ? `score PSI ${value}: ${rule} (the train's route to ${drift.to})` : null,
    live.auc < b.success.min_auc ? `live AUC ${live.auc} < ${b.success.min_auc}` : null,
  ].filter((x): x is string => x !== null);

  writeJson(ctx, 'deploy/alerts.json', {
    on_call: b.operations.on_call,
    channel: b.operations.alert_channel,
    rules: [
      {
        metric: 'psi',
        op: drift.op,
        threshold: drift.value,
        action: `page on-call; the train routes the project to ${drift.to}`,
      },
      { metric: 'live_auc', op: '<', threshold: b.success.min_auc, action: 'page on-call' },
      { metric: 'latency_p95_ms', op: '>=', threshold: b.success.max_latency_ms, action: 'page on-call' },
      { metric: 'unsure_rate', op: '>', threshold: 0.6, action: 'notify the field lead' },
    ],
  });
  writeJson(ctx, 'reports/monitoring.json', {
    psi: value,
    window: window.n,
    window_path: windowPath(window.n),
    drift: drifted,
    rule,
    bins,
    noise_floor: floor,
    rows: batch.length,
    reference: { splits: ['train', 'valid'], rows: refRows.length, scored_by: version },
    model_version: version,
    mean_score_reference: round(mean(reference)),
    mean_score_window: round(mean(scores)),
    unsure_rate: unsure,
    input_psi: inputPsi,
    live_labels: live,
    score_bins: refShares.map((r, i) => ({
      upper_edge: i < edges.length ? round(edges[i]!) : 1,
      reference: round(r),
      window: round(batchShares[i]!),
    })),
    alerts_fired: fired,
  });
  const dashboard = [
    `# Monitoring dashboard: window ${window.n}`,
    '',
    `Model ${version}. Window ${window.n} (${windowPath(window.n)}): ${batch.length} birds caught this season, handed over by the field feed when this visit started.`,
    `Reference: the same model's scores on the ${refRows.length} birds the service was built for (train and validation).`,
    '',
    mdTable(
      ['Figure', 'Value', 'Alert when'],
      [
        ['Birds scored', batch.length, '-'],
        [`Score PSI (${bins} quantile bins)`, value, `${drift.op} ${drift.value} (from the train)`],
        ['PSI from sampling alone (no drift)', `about ${floor}`, '-'],
        ['Mean score reference / window', `${round(mean(reference), 3)} / ${round(mean(scores), 3)}`, '-'],
        ['Unsure rate', unsure, '> 0.6'],
        ['Live AUC (lab labels)', live.auc, `< ${b.success.min_auc}`],
        ['Live error rate', round(1 - live.accuracy), '-'],
      ],
    ),
    '',
    `${bins} bins: with ${refRows.length} reference and ${batch.length} window birds, PSI over B bins is about (B - 1)(1/n + 1/m) from sampling alone; ${bins} is the most bins (up to 10) that keep that under a third of the threshold.`,
    '',
    '## Score distribution',
    mdTable(
      ['Bin (upper edge)', 'Reference share', 'Window share'],
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

  const worstInput = Object.entries(inputPsi).sort((x, y) => y[1] - x[1])[0]!;
  return {
    ticks: ['set-up-dashboards', 'configure-alerts', 'compute-drift', 'check-live-labels'],
    artifacts: [{ id: 'monitoring-report', path: 'reports/monitoring.json' }],
    metrics: { psi: value },
    context: [
      {
        kind: 'fact',
        text: `Window ${window.n}: score PSI ${value} over ${bins} bins (sampling floor about ${floor}); live AUC ${live.auc}, accuracy ${live.accuracy}.`,
      },
      ...(drifted
        ? [
            {
              kind: 'risk' as const,
              text: `Incident: window ${window.n} drifted (${rule} holds at ${value}); largest input drift in ${worstInput[0]} (PSI ${worstInput[1]}); mean score ${round(mean(reference), 3)} -> ${round(mean(scores), 3)}.`,
            },
          ]
        : [
            {
              kind: 'note' as const,
              text: `Window ${window.n}: no drift (${rule} does not hold at ${value}).`,
            },
          ]),
    ],
    summary: `Scored window ${window.n} (${batch.length} birds) with ${version}: PSI ${value}${drifted ? ' (drift)' : ''}, live AUC ${live.auc}.`,
  };
}
