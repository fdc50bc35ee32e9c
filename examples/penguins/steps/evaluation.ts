import { massRule } from '../lib/baselines.ts';
import { loadBrief } from '../lib/brief.ts';
import { recordDataUse } from '../lib/data-use.ts';
import { scoreQuality } from '../lib/evaluate.ts';
import { revealedWindows, windowCohort } from '../lib/feed.ts';
import { modelVersion, readModel, readPenguins } from '../lib/io.ts';
import { modelToJson, predict } from '../lib/model.ts';
import { label } from '../lib/penguins.ts';
import { round } from '../lib/stats.ts';
import { mdTable } from '../lib/template.ts';
import { exists, type Report, type StepContext, writeJson, writeText } from '../lib/workspace.ts';

/**
 * Evaluation: champion against challenger on the latest window's select cohort (a choice, so never on
 * birds validation scores), and the business value delivered there.
 */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const s = b.success;
  const champion = readModel(ctx);
  const train = readPenguins(ctx, 'data/splits/train.csv');
  const latest = revealedWindows(ctx).at(-1);
  if (latest === undefined)
    throw new Error('no monitoring window has been revealed yet: nothing recent to evaluate on');
  const windowName = `window-${latest}/select`;
  const window = windowCohort(ctx, latest, 'select');
  recordDataUse(ctx, [
    { set: 'train', purpose: 'fit', rows: train },
    { set: windowName, purpose: 'choose', rows: window },
  ]);

  // The challenger is a retrained model not yet promoted; otherwise the rule baseline.
  const pending =
    exists(ctx, 'models/challenger.json') &&
    modelToJson(readModel(ctx, 'models/challenger.json')) !== modelToJson(champion)
      ? readModel(ctx, 'models/challenger.json')
      : null;
  const challengerName = pending
    ? `challenger ${modelVersion(pending)}`
    : 'rule baseline (body mass within species)';
  const champScores = predict(champion, window);
  const challScores = pending ? predict(pending, window) : massRule(train)(window);
  const champ = scoreQuality(window, champScores);
  const chall = scoreQuality(window, challScores, pending ? 0.5 : 0);

  // Business value: birds the model sexes confidently, and how often it is right on them.
  const confident = champScores
    .map((p, i) => [p, label(window[i]!)] as const)
    .filter(([p]) => p >= s.confidence_cut || p <= 1 - s.confidence_cut);
  const confidentShare = round(confident.length / window.length);
  const confidentAccuracy = round(
    confident.filter(([p, y]) => (p >= 0.5 ? 1 : 0) === y).length / Math.max(1, confident.length),
  );
  const target = Number.parseFloat(s.target) / 100;
  const met = confidentShare >= target && confidentAccuracy >= s.min_confident_accuracy;
  const perBird =
    b.value.lab_cost_per_bird + (b.value.handling_hours_per_100_birds / 100) * b.value.hourly_cost;
  const saved = Math.round(confidentShare * b.value.birds_per_season);
  const saving = Math.round(saved * perBird);
  const cost = b.scope.effort_days * b.scope.day_rate;
  const roi = round((saving - cost) / cost, 3);
  const keep = champ.auc >= chall.auc;
  const recommendation = keep
    ? met
      ? 'Keep the champion in production and invest in monitoring the heavy-season effect.'
      : 'Keep the champion but invest further: the business target is not met yet.'
    : `Replace the champion with the ${challengerName}.`;

  writeJson(ctx, 'reports/evaluation.json', {
    champion_auc: champ.auc,
    challenger_auc: chall.auc,
    champion_version: modelVersion(champion),
    challenger: challengerName,
    window: { set: windowName, rows: window.length },
    champion: champ,
    challenger_quality: chall,
    business: {
      confident_share: confidentShare,
      confident_accuracy: confidentAccuracy,
      target_share: target,
      success_met: met,
      birds_sexed_without_sample_per_season: saved,
      saving_per_season_usd: saving,
      project_cost_usd: cost,
      first_season_roi: roi,
    },
    recommendation,
  });
  const report = [
    `# Value report: ${b.project_name}`,
    '',
    `Window: the ${window.length} birds of ${windowName}, the latest season's select cohort (fitted by no model; validation never scores them).`,
    '',
    '## Champion and challenger',
    mdTable(
      ['Model', 'AUC', 'Accuracy', 'F1'],
      [
        [`champion ${modelVersion(champion)}`, champ.auc, champ.accuracy, champ.f1],
        [challengerName, chall.auc, chall.accuracy, chall.f1],
      ],
    ),
    '',
    '## Value against the success metric',
    `Success metric agreed in discovery: ${s.metric}; baseline ${s.baseline}, target ${s.target}.`,
    '',
    mdTable(
      ['Figure', 'Value'],
      [
        [
          `Birds flagged confident (p >= ${s.confidence_cut} or <= ${round(1 - s.confidence_cut, 2)})`,
          `${round(confidentShare * 100, 1)}%`,
        ],
        [
          'Accuracy on confident birds',
          `${round(confidentAccuracy * 100, 1)}% (needed ${s.min_confident_accuracy * 100}%)`,
        ],
        ['Success metric met', met ? 'yes' : 'no'],
        ['Blood samples avoided per season', `${saved} of ${b.value.birds_per_season}`],
        ['Saving per season', `USD ${saving} (USD ${round(perBird, 2)} per bird: lab test plus handling)`],
        ['Project cost', `USD ${cost}`],
        ['Return in the first season', `${round(roi * 100, 1)}%`],
      ],
    ),
    '',
    '## Feedback from the people who act on the predictions',
    ...b.feedback.map((f) => `- ${f.who}: "${f.said}"`),
    '',
    '## Recommendation',
    recommendation,
    '',
  ].join('\n');
  writeText(ctx, 'docs/value-report.md', report);

  return {
    ticks: [
      'score-champion-challenger',
      'measure-business-value',
      'collect-user-feedback',
      'recommend-next-step',
      'estimate-roi',
    ],
    artifacts: [
      { id: 'evaluation-report', path: 'reports/evaluation.json' },
      { id: 'value-report', path: 'docs/value-report.md' },
    ],
    metrics: { champion_auc: champ.auc, challenger_auc: chall.auc },
    context: [
      {
        kind: 'fact',
        text: `Champion AUC ${champ.auc} vs ${challengerName} ${chall.auc} on ${window.length} birds of ${windowName}.`,
      },
      {
        kind: 'fact',
        text: `${round(confidentShare * 100, 1)}% of birds sexed confidently at ${round(confidentAccuracy * 100, 1)}% accuracy: about USD ${saving} saved per season.`,
      },
      { kind: 'decision', text: recommendation },
      {
        kind: 'assumption',
        text: 'User feedback is simulated: it comes from the feedback section of project-brief.yaml.',
      },
    ],
    summary: `Champion AUC ${champ.auc} vs ${challengerName} ${chall.auc}; ${round(confidentShare * 100, 1)}% of birds sexed without a sample.`,
  };
}
