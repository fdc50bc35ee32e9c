import { resolveExecutor } from '../agents/dispatch.ts';
import { currentEvidence } from '../engine/state.ts';
import type { Claim } from '../engine/ticket-ops.ts';
import { git } from '../io/git.ts';
import type { Phase, Train } from '../train/schema.ts';
import { runSession } from './session.ts';
import type { AutopilotDeps, AutopilotOptions, Progress } from './worker.ts';

/**
 * After the owner's session succeeded, each of the phase's supporting roles whose executor is an agent
 * (cli-agent or llm) works the same ticket in the same workspace, one after another, in its own session
 * (`<ticket>.s<gen>-<role>`, actor `agent:<role>`), on top of the owner's commit: it gets the handoff
 * and may add evidence under the phase's mode, and ends with a commit of its own when it succeeds.
 * Its outcome is recorded on its session (a failed one's evidence does not count); the owner's work
 * stands whatever it is.
 */
export async function runSupport(
  deps: AutopilotDeps,
  opts: AutopilotOptions,
  claim: Claim,
  phase: Phase,
  train: Train,
  ws: string,
  signal: AbortSignal,
  emit: (p: Progress) => void,
): Promise<void> {
  for (const id of phase.support ?? []) {
    if (signal.aborted) return;
    const role = train.roles.find((r) => r.id === id);
    if (!role) continue;
    // The role's own executor: the phase's executor is the owner's.
    const spec = resolveExecutor({ ...phase, executor: undefined }, role, claim.projectId);
    // People support through the CLI as they like; scripts (command) are single-purpose.
    if (spec.kind !== 'cli-agent' && spec.kind !== 'llm') continue;
    // It works on top of what was committed so far: its own commit then follows the owner's.
    const last = currentEvidence(await deps.engine.state(claim.projectId)).commit;
    if (last) await git(['-C', ws, 'reset', '-q', '--soft', last.commit]);
    await runSession(deps, opts, claim, spec, ws, `agent:${id}`, signal, emit, id);
  }
}
