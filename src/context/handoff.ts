import { phaseOf } from '../engine/core.ts';
import { currentEvidence, type ProjectState } from '../engine/state.ts';
import type { Train } from '../train/schema.ts';

export const DEFAULT_BUDGET_TOKENS = 8000;

/** A rough token estimate (about four characters a token), good enough to keep a prompt in budget. */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

export interface Handoff {
  text: string;
  tokens: number;
  truncated: boolean;
}

interface Section {
  title: string;
  lines: string[];
  /** Lower is dropped first when over budget. */
  keep: number;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/**
 * The packet handed to the session that works a phase: where the project stands, the phase's
 * checklist, what earlier phases produced (artifacts with hashes and previews, metrics), and the
 * decisions, assumptions, risks and notes recorded so far. A pure function of the state, so it can be
 * rebuilt from the events; trimmed to the budget by dropping the least important lines first.
 */
export function buildHandoff(s: ProjectState, train: Train, budgetTokens = DEFAULT_BUDGET_TOKENS): Handoff {
  const phase = phaseOf(train, s.phase);
  const index = train.phases.findIndex((p) => p.id === phase.id);
  const head = [
    `# Handoff: ${s.name} → ${phase.name}`,
    '',
    `Project ${s.id} (train ${train.name}, ${s.trainHash.slice(0, 12)}), phase ${index + 1}/${train.phases.length} ${phase.id}, visit ${currentEvidence(s).n} of it, owner ${phase.owner}${phase.mode ? `, mode ${phase.mode}` : ''}.`,
    phase.description ? oneLine(phase.description) : '',
    phase.instructions ? `\n## Your task\n${phase.instructions.trim()}` : '',
    '',
    '## Checklist (tick what you really did)',
    ...phase.checklist.map(
      (c) =>
        `- [${currentEvidence(s).checklist[c.id]?.ticked ? 'x' : ' '}] ${c.id}${c.required ? '' : ' (optional)'}: ${oneLine(c.text)}`,
    ),
    '',
    '## Artifacts to produce',
    ...phase.artifacts.map(
      (a) =>
        `- ${a.id} → ${a.path}${a.required ? '' : ' (optional)'}${a.description ? `: ${oneLine(a.description)}` : ''}`,
    ),
    ...(phase.metrics.length ? ['', `## Metrics to record\n${phase.metrics.join(', ')}`] : []),
    '',
    '## Gates',
    ...phase.gates.exit.map(
      (g) =>
        `- ${g.id} (${g.kind}${g.kind === 'metric' ? `: ${g.expr}` : g.kind === 'approval' ? `: ${g.role}` : ''})`,
    ),
  ].filter((l) => l !== '');

  const sections: Section[] = [];
  const artifacts: string[] = [];
  for (const p of [...train.phases].reverse()) {
    // The latest visit that produced artifacts (a visit just begun has none yet).
    const ev = s.evidence[p.id];
    const latest = ev && Object.keys(ev.artifacts).length ? ev : s.previous[p.id];
    for (const [id, a] of Object.entries(latest?.artifacts ?? {})) {
      artifacts.push(
        `- ${p.id}/${id}: ${a.path} sha256 ${a.sha256.slice(0, 16)} ${a.size} B${a.preview ? ` — "${a.preview}"` : ''}`,
      );
    }
  }
  sections.push({ title: 'What earlier phases produced', lines: artifacts, keep: 2 });
  const metrics = Object.entries(s.metrics)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `- ${k} = ${v.value} (${v.phase})`);
  sections.push({ title: 'Metrics', lines: metrics, keep: 4 });
  const byKind = (kind: string) =>
    s.context
      .filter((c) => c.kind === kind)
      .slice()
      .reverse()
      .map((c) => `- [${c.phase}] ${oneLine(c.text)}`);
  sections.push({ title: 'Decisions', lines: byKind('decision'), keep: 5 });
  sections.push({ title: 'Open assumptions', lines: byKind('assumption'), keep: 4 });
  sections.push({ title: 'Risks', lines: byKind('risk'), keep: 4 });
  sections.push({ title: 'Facts', lines: byKind('fact'), keep: 3 });
  sections.push({ title: 'Notes', lines: byKind('note'), keep: 1 });

  const render = () =>
    [
      ...head,
      ...sections.filter((x) => x.lines.length).flatMap((x) => ['', `## ${x.title}`, ...x.lines]),
    ].join('\n') + '\n';
  const footer = '\n(Trimmed to fit the handoff budget; `vt context show` and `vt status` have the rest.)\n';
  let text = render();
  let truncated = false;
  // Over budget: drop the oldest line of the least important non-empty section until it fits.
  while (estimateTokens(text + (truncated ? footer : '')) > budgetTokens) {
    const victim = sections.filter((x) => x.lines.length).sort((a, b) => a.keep - b.keep)[0];
    if (!victim) break;
    victim.lines.pop();
    truncated = true;
    text = render();
  }
  if (truncated) text += footer;
  return { text, tokens: estimateTokens(text), truncated };
}
