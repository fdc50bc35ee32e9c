import { canonicalJson, sha256 } from '../canonical.ts';
import type { GateEvidence } from './types.ts';

/**
 * A digest of the evidence of one visit: ticked items, artifact hashes, metrics and the commit they
 * were judged in. An approval records it; an approval given before the evidence changed no longer counts.
 */
export function evidenceDigest(ev: GateEvidence): string {
  const ticked = Object.entries(ev.checklist)
    .filter(([, v]) => v.ticked)
    .map(([k]) => k)
    .sort();
  const artifacts = Object.fromEntries(Object.entries(ev.artifacts).map(([k, v]) => [k, v.sha256]));
  const metrics = Object.fromEntries(Object.entries(ev.metrics).map(([k, v]) => [k, v.value]));
  return sha256(
    canonicalJson({
      phase: ev.phase,
      visit: ev.visit,
      ticked,
      artifacts,
      metrics,
      commit: ev.commit?.tree ?? null,
    }),
  );
}
