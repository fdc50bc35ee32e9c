import { canonicalJson, sha256 } from '../store/canonical.ts';
import type { ProjectState } from './state.ts';

/**
 * A digest of the evidence a phase has produced in the current visit: ticked items, artifact hashes
 * and metrics. An approval records it; an approval given before the evidence changed no longer counts.
 */
export function evidenceDigest(state: ProjectState, phase: string): string {
  const ticked = Object.entries(state.checklist[phase] ?? {})
    .filter(([, v]) => v.ticked)
    .map(([k]) => k)
    .sort();
  const artifacts = Object.fromEntries(
    Object.entries(state.artifacts[phase] ?? {}).map(([k, v]) => [k, v.sha256]),
  );
  const metrics = phase === state.phase ? state.visitMetrics : {};
  return sha256(canonicalJson({ phase, ticked, artifacts, metrics }));
}
