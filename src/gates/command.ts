import type { GateSpec } from '../train/schema.ts';
import type { GateContext, GateResult } from './types.ts';

/** Passes when the command exits 0 within its timeout; the tail of its output is kept as evidence. */
export async function commandGate(
  spec: Extract<GateSpec, { kind: 'command' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const out = await ctx.io.runCommand(spec.run, ctx.state.workspace, spec.timeout_s * 1000, {
    VT_PROJECT: ctx.state.id,
    VT_PHASE: ctx.phase.id,
  });
  const passed = out.exitCode === 0 && !out.timedOut;
  const why = out.timedOut
    ? `timed out after ${spec.timeout_s}s`
    : out.exitCode === null
      ? 'could not be run'
      : `exited ${out.exitCode}`;
  return {
    gate: spec.id,
    kind: spec.kind,
    status: passed ? 'pass' : out.exitCode === null && !out.timedOut ? 'error' : 'fail',
    message: `${spec.run.join(' ')} ${passed ? 'exited 0' : why}`,
    evidence: {
      argv: spec.run,
      exit_code: out.exitCode,
      timed_out: out.timedOut,
      duration_ms: out.durationMs,
      output_tail: out.outputTail,
    },
  };
}
