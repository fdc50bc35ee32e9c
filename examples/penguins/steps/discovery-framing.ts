import { loadBrief } from '../lib/brief.ts';
import { round } from '../lib/stats.ts';
import { fillTemplate, mdTable, replaceLine } from '../lib/template.ts';
import {
  type Report,
  readTemplate,
  SIMULATED_CLIENT,
  type StepContext,
  writeText,
} from '../lib/workspace.ts';

/** Discovery and framing: the use-case one-pager and the stakeholder map. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const s = b.success;
  const who = (role: string) => b.stakeholders.find((p) => p.role.startsWith(role));

  let md = fillTemplate(readTemplate(ctx, 'use-case-one-pager'), {
    project_name: b.project_name,
    team: b.team,
    sponsor: b.sponsor,
    owner: b.owner,
    date: b.date,
    problem: b.problem,
    target: b.prediction.target,
    success_metric: s.metric,
  });
  const lines: [string, string][] = [
    ['- The decision the model informs:', b.decision.what],
    ['- Who acts on each prediction:', b.decision.who],
    ['- When the prediction is needed (lead time before the decision):', b.decision.when],
    ['- What happens today without the model:', b.decision.today],
    ['- Unit of prediction (per customer, per order, per day...):', b.prediction.unit],
    ['- Prediction point in time, and the horizon:', b.prediction.horizon],
    ['- Output form (score, class, ranking, forecast):', b.prediction.output],
    ['- Latency / freshness:', b.constraints.latency],
    ['- Explainability:', b.constraints.explainability],
    ['- Privacy and regulation:', b.constraints.privacy],
    ['- Integration (where predictions must land):', b.constraints.integration],
  ];
  for (const [prefix, text] of lines) md = replaceLine(md, prefix, `${prefix} ${text}`);
  md = replaceLine(
    md,
    `| Business: ${s.metric} | | | |`,
    `| Business: ${s.metric} | ${s.baseline} | ${s.target} | Share of captures flagged confident (p >= ${s.confidence_cut} or <= ${round(1 - s.confidence_cut, 2)}), with accuracy on them checked against lab sexing |`,
  );
  md = replaceLine(
    md,
    '| Model (e.g. AUC, F1) | | | |',
    `| Model (e.g. AUC, F1) | none (every bird sampled) | AUC >= ${s.min_auc}, F1 >= ${s.min_f1} | Held-out test split, then live labels from the lab |`,
  );
  md = replaceLine(
    md,
    '| Adoption (share of decisions using it) | | | |',
    '| Adoption (share of decisions using it) | 0% | 90% of captures scored | Tablet app logs |',
  );
  for (const role of ['Sponsor', 'End user', 'Data owner']) {
    const p = who(role);
    if (p) md = replaceLine(md, `| | ${role} | |`, `| ${p.name} | ${role} | ${p.needs} |`);
  }
  md = replaceLine(
    md,
    '- Signals likely to predict the target, and where they live:',
    `- Signals likely to predict the target, and where they live (field measurement sheets, LTER archive):\n${b.data_hypotheses.map((h) => `  - ${h}`).join('\n')}`,
  );
  md = replaceLine(md, '1.', `1. ${b.risks[0] ?? 'None.'}`);
  md = replaceLine(md, '2.', `2. ${b.risks[1] ?? 'None.'}`);
  md += `\n## Interview notes\n${b.interviews.map((i) => `- ${i.who}: ${i.notes}`).join('\n')}\n`;
  writeText(ctx, 'docs/use-case-one-pager.md', md);

  const map = `# Stakeholders: ${b.project_name}\n\n${mdTable(
    ['Who', 'Role', 'Stake'],
    b.stakeholders.map((p) => [p.name, p.role, p.needs]),
  )}\n`;
  writeText(ctx, 'docs/stakeholders.md', map);

  return {
    ticks: [
      'interview-stakeholders',
      'define-decision',
      'define-success',
      'list-constraints',
      'draft-data-hypotheses',
    ],
    artifacts: [
      { id: 'use-case-one-pager', path: 'docs/use-case-one-pager.md' },
      { id: 'stakeholder-map', path: 'docs/stakeholders.md' },
    ],
    metrics: {},
    context: [
      SIMULATED_CLIENT,
      { kind: 'decision', text: `Decision supported: ${b.decision.what} Acted on by: ${b.decision.who}` },
      {
        kind: 'decision',
        text: `Success: ${s.metric}, from ${s.baseline} to ${s.target}; model bar AUC >= ${s.min_auc} and F1 >= ${s.min_f1}.`,
      },
      ...b.risks.map((r) => ({ kind: 'risk' as const, text: `Open question: ${r}` })),
    ],
    summary: `Framed the use case with ${b.interviews.length} interviews and mapped ${b.stakeholders.length} stakeholders.`,
  };
}
