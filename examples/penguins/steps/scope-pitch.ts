import { loadBrief } from '../lib/brief.ts';
import { round } from '../lib/stats.ts';
import { fillTemplate, mdTable, replaceLine, replaceRow } from '../lib/template.ts';
import {
  type Report,
  readTemplate,
  SIMULATED_CLIENT,
  type StepContext,
  writeText,
} from '../lib/workspace.ts';

/** Scope and pitch: the MVP plan and statement of work, and pitch notes. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const s = b.success;
  const sc = b.scope;
  const cost = sc.effort_days * sc.day_rate;
  const paid = sc.milestones.reduce((t, m) => t + m.payment, 0);
  if (paid !== 100) throw new Error(`milestone payments add up to ${paid}%, not 100%`);
  const dataOwner = b.stakeholders.find((p) => p.role === 'Data owner');

  let md = fillTemplate(readTemplate(ctx, 'mvp-plan-sow'), {
    project_name: b.project_name,
    team: b.team,
    owner: b.owner,
    date: b.date,
    version: b.version,
    problem: b.problem,
    success_metric: s.metric,
    baseline: s.baseline,
    target: s.target,
    scope_population: sc.population,
    duration: sc.duration,
    kickoff_date: sc.kickoff_date,
    min_auc: s.min_auc,
    min_f1: s.min_f1,
    max_latency_ms: s.max_latency_ms,
    evaluation_window: s.evaluation_window,
    acceptance_days: sc.acceptance_days,
    sponsor: b.sponsor,
    expert_hours: sc.expert_hours,
    handover_date: sc.handover_date,
    budget: sc.budget,
  });
  md = replaceLine(md, '- Use case:', `- Use case: ${b.decision.what}`);
  md = replaceLine(
    md,
    '- Population / markets / products:',
    `- Population / markets / products: ${sc.population}`,
  );
  md = replaceLine(md, '- Data sources:', `- Data sources: ${b.data_sources.map((d) => d.name).join('; ')}`);
  md = replaceLine(
    md,
    '- Delivery form (API, batch scores, dashboard):',
    `- Delivery form (API, batch scores, dashboard): ${sc.delivery}`,
  );
  const deliverables: [string, string, string][] = [
    ['D1', 'Data source inventory and prepared dataset', 'data/, reports/'],
    ['D2', 'Trained and validated model with validation report', 'models/, reports/validation.json'],
    ['D3', 'Deployed model with runbook', 'endpoint or job, docs/runbook.md'],
    ['D4', 'Monitoring dashboard and first evaluation', 'reports/monitoring.json'],
  ];
  for (const [id, what, format] of deliverables) md = replaceRow(md, id, [id, what, format, b.sponsor]);
  for (const m of sc.milestones) {
    md = replaceRow(md, m.name, [
      m.name,
      m.date,
      m.deliverable === 'none' ? '' : m.deliverable,
      `${m.payment}%`,
    ]);
  }
  if (dataOwner)
    md = replaceLine(md, '| | Client | Data owner |', `| ${dataOwner.name} | Client | Data owner |`);
  md += `\n## Effort estimate\n${mdTable(
    ['Item', 'Value'],
    [
      ['Effort', `${sc.effort_days} person-days`],
      ['Day rate', `USD ${sc.day_rate}`],
      ['Cost', `USD ${cost}`],
      ['Client contribution', `${sc.expert_hours} expert hours a week for ${sc.duration}`],
    ],
  )}\n`;
  writeText(ctx, 'docs/mvp-plan-sow.md', md);

  const pitch = [
    `# Pitch notes: ${b.project_name}`,
    '',
    `1. The problem: ${b.decision.today} ${b.value.cost_of_nothing}`,
    `2. The idea: sex each bird on the tablet from the four measurements already taken (${b.prediction.output.toLowerCase().replace(/\.$/, '')}).`,
    `3. The proof we offer: ${s.metric} from ${s.baseline} to ${s.target} in ${sc.duration}.`,
    `4. The safety net: unsure birds (probability between ${round(1 - s.confidence_cut, 2)} and ${s.confidence_cut}) are still sampled.`,
    `5. The ask: ${sc.budget}.`,
    '',
  ].join('\n');
  writeText(ctx, 'docs/pitch.md', pitch);

  return {
    ticks: ['define-mvp-scope', 'set-milestones', 'write-acceptance', 'estimate-budget'],
    artifacts: [
      { id: 'mvp-plan', path: 'docs/mvp-plan-sow.md' },
      { id: 'pitch-deck', path: 'docs/pitch.md' },
    ],
    metrics: {},
    context: [
      SIMULATED_CLIENT,
      {
        kind: 'decision',
        text: `MVP scope: ${sc.population}, delivered as ${sc.delivery}, in ${sc.duration}.`,
      },
      {
        kind: 'decision',
        text: `Budget USD ${cost} (${sc.effort_days} days at USD ${sc.day_rate}), paid over ${sc.milestones.length} milestones.`,
      },
      {
        kind: 'decision',
        text: `Acceptance: AUC >= ${s.min_auc}, F1 >= ${s.min_f1}, p95 latency < ${s.max_latency_ms} ms.`,
      },
    ],
    summary: `Scoped the MVP (${sc.milestones.length} milestones, USD ${cost}) and wrote the SOW and pitch notes.`,
  };
}
