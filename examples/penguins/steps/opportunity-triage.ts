import { loadBrief } from '../lib/brief.ts';
import { readSource } from '../lib/source.ts';
import { fillTemplate, replaceLine, tickBox } from '../lib/template.ts';
import {
  type Report,
  readTemplate,
  SIMULATED_CLIENT,
  type StepContext,
  writeText,
} from '../lib/workspace.ts';

/** Opportunity triage: the opportunity brief from the project brief, with a real look at the data. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const { records } = readSource(ctx.exampleDir);
  const withSex = records.filter((r) => r.Sex === 'MALE' || r.Sex === 'FEMALE').length;
  const high = b.feasibility.filter((f) => f.confidence === 'high').length;
  const labLoad = b.value.lab_cost_per_bird * b.value.birds_per_season;

  let md = fillTemplate(readTemplate(ctx, 'opportunity-brief'), {
    project_name: b.project_name,
    team: b.team,
    requester: b.requester,
    owner: b.owner,
    date: b.date,
    priority: b.priority,
    problem: b.problem,
    value_estimate: b.value.estimate,
    revisit_date: b.revisit_date,
  });
  md = replaceLine(md, '- Cost of doing nothing:', `- Cost of doing nothing: ${b.value.cost_of_nothing}`);
  md = replaceLine(md, '- Who benefits first:', `- Who benefits first: ${b.value.first_beneficiary}`);
  for (const f of b.feasibility) {
    md = replaceLine(md, `| ${f.question} | | |`, `| ${f.question} | ${f.answer} | ${f.confidence} |`);
  }
  md = replaceLine(
    md,
    '- Earlier attempts, vendors or off-the-shelf products:',
    `- Earlier attempts, vendors or off-the-shelf products:\n${b.prior_work.map((p) => `  - ${p}`).join('\n')}`,
  );
  md = replaceLine(md, '1.', `1. ${b.risks[0] ?? 'None identified.'}`);
  md = replaceLine(md, '2.', `2. ${b.risks[1] ?? 'None identified.'}`);
  const decisionLines = [
    `- Decision informed: ${b.decision.what}`,
    `- Who takes it: ${b.decision.who}`,
    `- How it is made today: ${b.decision.today}`,
    `- Volume: ${b.decision.volume}`,
  ];
  md = md.replace('## Value at stake', `${decisionLines.join('\n')}\n\n## Value at stake`);
  const box = { go: 'Go:', 'not-now': 'Not now:', 'no-go': 'No-go' }[b.recommendation];
  md = tickBox(md, box);
  md = replaceLine(md, 'Reasons:', `Reasons: ${b.recommendation_reasons}`);
  md = md.replace(
    '## Prior work and alternatives',
    `Data check: the shipped source holds ${records.length} birds, ${withSex} of them with a recorded sex, so labelled history exists.\n\n## Prior work and alternatives`,
  );
  writeText(ctx, 'docs/opportunity-brief.md', md);

  return {
    ticks: ['capture-request', 'size-value', 'check-feasibility', 'set-priority', 'note-prior-work'],
    artifacts: [{ id: 'opportunity-brief', path: 'docs/opportunity-brief.md' }],
    metrics: {},
    context: [
      SIMULATED_CLIENT,
      {
        kind: 'decision',
        text: `Recommend ${b.recommendation} at priority ${b.priority}: ${b.recommendation_reasons}`,
      },
      {
        kind: 'fact',
        text: `Lab sexing costs about USD ${labLoad} a season (${b.value.birds_per_season} birds at USD ${b.value.lab_cost_per_bird}).`,
      },
      {
        kind: 'fact',
        text: `Feasibility: ${high} of ${b.feasibility.length} questions answered with high confidence; ${withSex} of ${records.length} historical birds have a recorded sex.`,
      },
      ...b.risks.map((r) => ({ kind: 'risk' as const, text: r })),
    ],
    summary: `Wrote the opportunity brief for "${b.project_name}": recommend ${b.recommendation}, priority ${b.priority}.`,
  };
}
