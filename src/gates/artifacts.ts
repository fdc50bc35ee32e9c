import type { ArtifactSpec, GateSpec, ValidatorSpec } from '../train/schema.ts';
import type { Json } from '../types.ts';
import type { FileObservation, GateContext, GateEvidence, GateResult } from './types.ts';
import { validateContent } from './validators.ts';

const TEXT_LIMIT = 8 * 1024 * 1024;

/**
 * Passes when every listed artifact (by default every required one) was recorded in this visit, is in
 * the commit this visit judges with exactly the hash that was recorded, is not empty, and passes its
 * validators. Files are read from the recorded commit, never from a folder a process may still write.
 */
export async function artifactsGate(
  spec: Extract<GateSpec, { kind: 'artifacts' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const specs = spec.artifacts
    ? spec.artifacts.map((id) => ctx.phase.artifacts.find((a) => a.id === id)!).filter(Boolean)
    : ctx.phase.artifacts.filter((a) => a.required);
  const checks: { [k: string]: Json }[] = [];
  const problems: string[] = [];
  for (const a of specs) {
    const found = await checkOne(a, ctx.evidence.artifacts[a.id], ctx);
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
    evidence: { visit: ctx.evidence.n, commit: ctx.evidence.commit?.commit ?? null, artifacts: checks },
  };
}

async function checkOne(
  a: ArtifactSpec,
  rec: GateEvidence['artifacts'][string] | undefined,
  ctx: GateContext,
): Promise<{ [k: string]: Json; problem: string | null }> {
  const base = { artifact: a.id, path: rec?.path ?? a.path };
  if (!rec)
    return {
      ...base,
      problem: `not recorded in visit ${ctx.evidence.n} (vt artifact add ${ctx.project} ${a.id})`,
    };
  const wantText = a.validators.some((v: ValidatorSpec) => v.kind !== 'max-size') && rec.size <= TEXT_LIMIT;
  // The visit's latest commit: a file changed after it was recorded shows there.
  const commit = ctx.evidence.commit?.commit ?? rec.commit;
  let seen: FileObservation;
  if (commit) seen = await ctx.io.readCommitted(ctx.workspace, commit, rec.path, { wantText });
  else if (rec.session === null)
    // Recorded before vt recorded commits (an early history): judged where it was recorded.
    seen = await ctx.io.observeFile(rec.workspace, rec.path, { wantText });
  else return { ...base, sha256: rec.sha256, problem: 'recorded, but its session has not committed it' };
  const where: { commit: string | null } = { commit };
  if (!seen.ok) return { ...base, ...where, sha256: rec.sha256, problem: seen.problem };
  if (seen.sha256 !== rec.sha256)
    return {
      ...base,
      ...where,
      sha256: seen.sha256,
      recorded_sha256: rec.sha256,
      problem: 'changed since it was recorded',
    };
  if (seen.size === 0) return { ...base, ...where, sha256: seen.sha256, size: 0, problem: 'empty' };
  for (const v of a.validators) {
    const problem = validateContent(v, seen.size, seen.text);
    if (problem)
      return { ...base, ...where, sha256: seen.sha256, size: seen.size, validator: v.kind, problem };
  }
  return { ...base, ...where, sha256: seen.sha256, size: seen.size, problem: null };
}
