import type { GateContext, GateIo } from '../gates/types.ts';
import type { Phase, Train } from '../train/schema.ts';
import { signatureChecks } from './signed-decisions.ts';
import { currentEvidence, emptyEvidence, type ProjectState } from './state.ts';

/** True when any of these gates reads files (artifacts, commands): they need a recorded commit. */
export function readsFiles(gates: Phase['gates']['exit']): boolean {
  return gates.some(
    (g) =>
      g.kind === 'artifacts' ||
      g.kind === 'command' ||
      ((g.kind === 'all' || g.kind === 'any') && readsFiles(g.gates)),
  );
}

/**
 * What a phase's gates judge: exit gates the current visit's evidence (with `snap` as its commit when
 * a person's work was just committed); entry gates the visit about to start, which is empty, plus the
 * scoped metrics and the commit the project brings.
 */
export function gateContext(
  s: ProjectState,
  train: Train,
  phase: Phase,
  side: 'entry' | 'exit',
  now: Date,
  io: GateIo,
  snap: { commit: string; tree: string } | null,
): GateContext {
  const here = currentEvidence(s);
  const commit = snap ?? (here.commit ? { commit: here.commit.commit, tree: here.commit.tree } : null);
  const evidence =
    side === 'exit' && phase.id === s.phase
      ? { ...here, commit }
      : { ...emptyEvidence(phase.id, s.visit + 1, (s.phaseVisits[phase.id] ?? 0) + 1), commit };
  const phases: Record<string, Record<string, number>> = {};
  for (const [id, ev] of Object.entries(s.evidence))
    phases[id] = Object.fromEntries(Object.entries(ev.metrics).map(([k, v]) => [k, v.value]));
  return {
    project: s.id,
    workspace: s.workspace,
    train,
    phase,
    now,
    io,
    evidence,
    metricScopes: {
      latest: Object.fromEntries(Object.entries(s.metrics).map(([k, v]) => [k, v.value])),
      phases,
    },
    approvals: side === 'exit' && phase.id === s.phase ? s.approvals : [],
    waivers: side === 'exit' && phase.id === s.phase ? s.waivers : {},
    signatures: signatureChecks(train),
  };
}
