import type { ArtifactSpec, GateSpec, ValidatorSpec } from '../train/schema.ts';
import type { Json } from '../types.ts';
import type { GateContext, GateResult } from './types.ts';
import { validateContent } from './validators.ts';

const TEXT_LIMIT = 8 * 1024 * 1024;

/**
 * Passes when every listed artifact (by default every required one) was recorded, is still in the
 * workspace with the hash that was recorded, is not empty, and passes its validators.
 */
export async function artifactsGate(
  spec: Extract<GateSpec, { kind: 'artifacts' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const specs = spec.artifacts
    ? spec.artifacts.map((id) => ctx.phase.artifacts.find((a) => a.id === id)!).filter(Boolean)
    : ctx.phase.artifacts.filter((a) => a.required);
  const recorded = ctx.state.artifacts[ctx.phase.id] ?? {};
  const checks: { [k: string]: Json }[] = [];
  const problems: string[] = [];
  for (const a of specs) {
    const found = await checkOne(a, recorded[a.id], ctx);
    checks.push(found);
    if (found.problem) problems.push(`${a.id}: ${found.problem}`);
  }
  return {
    gate: spec.id,
    kind: spec.kind,
    status: problems.length ? 'fail' : 'pass',
    message: problems.length
      ? problems.join('; ')
      : `${specs.length} artifact${specs.length === 1 ? '' : 's'} present and valid`,
    evidence: { artifacts: checks },
  };
}

async function checkOne(
  a: ArtifactSpec,
  rec: { path: string; workspace: string; sha256: string; size: number } | undefined,
  ctx: GateContext,
): Promise<{ [k: string]: Json; problem: string | null }> {
  const base = { artifact: a.id, path: rec?.path ?? a.path };
  if (!rec) return { ...base, problem: `not recorded (vt artifact add ${ctx.state.id} ${a.id})` };
  const wantText = a.validators.some((v: ValidatorSpec) => v.kind !== 'max-size') && rec.size <= TEXT_LIMIT;
  const seen = await ctx.io.observeFile(rec.workspace, rec.path, { wantText });
  if (!seen.ok) return { ...base, sha256: rec.sha256, problem: seen.problem };
  if (seen.sha256 !== rec.sha256)
    return {
      ...base,
      sha256: seen.sha256,
      recorded_sha256: rec.sha256,
      problem: 'changed since it was recorded',
    };
  if (seen.size === 0) return { ...base, sha256: seen.sha256, size: 0, problem: 'empty' };
  for (const v of a.validators) {
    const problem = validateContent(v, seen.size, seen.text);
    if (problem) return { ...base, sha256: seen.sha256, size: seen.size, validator: v.kind, problem };
  }
  return { ...base, sha256: seen.sha256, size: seen.size, problem: null };
}
