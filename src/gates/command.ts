import type { GateSpec } from '../train/schema.ts';
import type { GateContext, GateResult } from './types.ts';

/**
 * Passes when the command exits 0 within its timeout, run in a fresh checkout of the commit recorded
 * in this visit (never a live folder), with a scrubbed environment. The tail of its output is evidence.
 */
export async function commandGate(
  spec: Extract<GateSpec, { kind: 'command' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const base = { gate: spec.id, kind: spec.kind, evidence: { argv: spec.run } };
  const committed = ctx.evidence.commit;
  if (!committed)
    return {
      ...base,
      status: 'error',
      message: `no commit recorded in visit ${ctx.evidence.n} of ${ctx.phase.id}: nothing to run ${spec.run.join(' ')} on`,
    };
  const checkout = await ctx.io.checkout(ctx.workspace, committed.commit);
  try {
    const out = await ctx.io.runCommand(
      spec.run,
      checkout.dir,
      spec.timeout_s * 1000,
      { VT_PROJECT: ctx.project, VT_PHASE: ctx.phase.id, VT_COMMIT: committed.commit },
      { sandbox: spec.sandbox ?? ctx.train.sandbox, project: ctx.workspace },
    );
    const passed = out.exitCode === 0 && !out.timedOut;
    const why = out.timedOut
      ? `timed out after ${spec.timeout_s}s`
      : out.exitCode === null
        ? `could not be run${out.problem ? `: ${out.problem}` : ''}`
        : `exited ${out.exitCode}`;
    return {
      gate: spec.id,
      kind: spec.kind,
      status: passed ? 'pass' : out.exitCode === null && !out.timedOut ? 'error' : 'fail',
      message: `${spec.run.join(' ')} ${passed ? 'exited 0' : why} on ${committed.commit.slice(0, 12)}`,
      evidence: {
        argv: spec.run,
        commit: committed.commit,
        tree: committed.tree,
        exit_code: out.exitCode,
        timed_out: out.timedOut,
        duration_ms: out.durationMs,
        output_tail: out.outputTail,
      },
    };
  } finally {
    await checkout.dispose();
  }
}
