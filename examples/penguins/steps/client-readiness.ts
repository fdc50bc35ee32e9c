import { loadBrief } from '../lib/brief.ts';
import { fillTemplate, replaceLine } from '../lib/template.ts';
import {
  type Report,
  readTemplate,
  SIMULATED_CLIENT,
  type StepContext,
  writeJson,
  writeText,
} from '../lib/workspace.ts';

const DIMENSIONS = ['data', 'infrastructure', 'people', 'governance'] as const;

/** Client readiness: the questionnaire with answers, scores 1-5 and the blocking gaps. */
export async function run(ctx: StepContext): Promise<Report> {
  const b = loadBrief(ctx.exampleDir);
  const r = b.readiness;
  const src = b.data_sources[0]!;
  const gov = b.stakeholders.find((p) => p.role.startsWith('Governance'));

  let md = fillTemplate(readTemplate(ctx, 'readiness-questionnaire'), {
    project_name: b.project_name,
    team: b.team,
    owner: b.owner,
    date: b.date,
    problem: 'sexing penguins from field measurements',
    readiness_summary: r.summary,
  });
  for (const d of DIMENSIONS) {
    const name = d[0]!.toUpperCase() + d.slice(1);
    const blocking = r.gaps.filter((g) => g.dimension === d);
    md = replaceLine(
      md,
      `| ${name} | | | |`,
      `| ${name} | ${r[d].score} | ${r[d].evidence} | ${blocking.map((g) => g.gap).join('; ') || 'none'} |`,
    );
  }
  const gapRows = r.gaps.map((g) => `| ${g.gap} | ${g.owner} | ${g.date} | ${g.blocks} |`).join('\n');
  md = replaceLine(md, '| | | | |', gapRows);
  const answers = [
    `- Data: ${src.name}, owned by ${src.owner}; ${r.data.evidence} Access: ${src.access}.`,
    `- Infrastructure: ${r.infrastructure.evidence} Delivery: ${b.scope.delivery}.`,
    `- People: ${r.people.evidence} End users: ${b.decision.who}`,
    `- Governance: ${src.legal_basis}; personal data: ${src.personal_data}. ${r.governance.evidence}`,
    `- Approval path: ${gov ? `${gov.name}, ${gov.role.toLowerCase()}; condition: ${gov.needs.toLowerCase()}` : 'not named'}`,
  ];
  md = md.replace('## Scores', `## Workshop answers\n${answers.join('\n')}\n\n## Scores`);
  writeText(ctx, 'docs/readiness-questionnaire.md', md);

  writeJson(ctx, 'reports/readiness.json', {
    data: r.data.score,
    infrastructure: r.infrastructure.score,
    people: r.people.score,
    governance: r.governance.score,
    evidence: Object.fromEntries(DIMENSIONS.map((d) => [d, r[d].evidence])),
    gaps: r.gaps,
  });

  return {
    ticks: ['run-workshop', 'score-readiness', 'list-gaps', 'confirm-governance'],
    artifacts: [
      { id: 'readiness-questionnaire', path: 'docs/readiness-questionnaire.md' },
      { id: 'readiness-scores', path: 'reports/readiness.json' },
    ],
    metrics: {},
    context: [
      SIMULATED_CLIENT,
      {
        kind: 'fact',
        text: `Readiness scores: ${DIMENSIONS.map((d) => `${d} ${r[d].score}`).join(', ')} (of 5).`,
      },
      { kind: 'fact', text: `Legal basis: ${src.legal_basis}; personal data: ${src.personal_data}.` },
      ...r.gaps.map((g) => ({
        kind: 'risk' as const,
        text: `Gap: ${g.gap} (owner ${g.owner}, by ${g.date}, blocks ${g.blocks}).`,
      })),
    ],
    summary: `Scored readiness ${DIMENSIONS.map((d) => r[d].score).join('/')} and listed ${r.gaps.length} blocking gaps.`,
  };
}
