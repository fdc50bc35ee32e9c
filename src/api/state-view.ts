import { phaseOf } from '../engine/core.ts';
import type { ProjectState } from '../engine/state.ts';
import type { Train } from '../train/schema.ts';

/*
 * How the API reads a project's folded state: the few places that know the shape of evidence
 * (this visit's checklist, artifacts and metrics, and who worked in it).
 */

/** The current phase's checklist, each item with whether it is ticked and by whom. */
export function checklistOf(s: ProjectState, train: Train, phase = s.phase) {
  return phaseOf(train, phase).checklist.map((c) => {
    const rec = s.evidence[phase]?.checklist[c.id];
    return { id: c.id, text: c.text, required: c.required, ticked: !!rec?.ticked, actor: rec?.actor ?? null };
  });
}

/** The phase's artifacts as declared, with what was recorded for each (path, sha256, size). */
export function artifactsOf(s: ProjectState, train: Train, phase = s.phase) {
  return phaseOf(train, phase).artifacts.map((a) => {
    const rec = s.evidence[phase]?.artifacts[a.id];
    return {
      id: a.id,
      path: a.path,
      required: a.required,
      recorded: rec
        ? { path: rec.path, sha256: rec.sha256, size: rec.size, actor: rec.actor, seq: rec.seq }
        : null,
    };
  });
}

/** The latest value of each metric, with the phase and visit that recorded it. */
export function metricsOf(s: ProjectState) {
  return Object.entries(s.metrics).map(([name, m]) => ({
    name,
    value: m.value,
    phase: m.phase,
    visit: m.visit,
  }));
}

/** Who worked in the phase (and so may not approve or waive it). */
export function contributorsOf(s: ProjectState, phase = s.phase): string[] {
  return s.evidence[phase]?.contributors ?? [];
}

/** The current visit's approvals and rejections; `signed` says how (ssh, webauthn) or null. */
export function approvalsOf(s: ProjectState) {
  return s.approvals.map(({ proof, ...a }) => ({ ...a, signed: proof?.method ?? null }));
}
