import { describeSchedule, dueAfterEntry, periodAt } from '../train/schedule.ts';
import type { Phase, Train } from '../train/schema.ts';
import { WORKING_STATUSES } from '../types.ts';
import { event, type NewEvent } from './events.ts';
import type { ProjectState } from './state.ts';

/*
 * Operations as a cycle, decided purely: a project that enters its train's endless operations cycle
 * operates until a person retires it, and a scheduled phase's visit is given its due time on entry.
 */

const endlessCache = new WeakMap<Train, Set<string>>();

/**
 * The phases from which the train has no end (no path to a phase without `next`). A project that
 * enters one of them in the operations stage operates for good: only a person's `vt retire` ends it.
 */
export function endlessPhases(train: Train): Set<string> {
  const cached = endlessCache.get(train);
  if (cached) return cached;
  const byId = new Map(train.phases.map((p) => [p.id, p]));
  const edges = (p: Phase) =>
    [p.next, p.on_fail, ...p.routes.map((r) => r.to)].filter((x): x is string => !!x && byId.has(x));
  const canEnd = new Set(train.phases.filter((p) => !p.next).map((p) => p.id));
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of train.phases)
      if (!canEnd.has(p.id) && edges(p).some((e) => canEnd.has(e))) {
        canEnd.add(p.id);
        changed = true;
      }
  }
  const out = new Set(train.phases.filter((p) => !canEnd.has(p.id)).map((p) => p.id));
  endlessCache.set(train, out);
  return out;
}

/** True when entering `phase` puts a project in operations for good. */
export function operatesIn(train: Train, phase: Phase): boolean {
  return phase.stage === 'operations' && endlessPhases(train).has(phase.id);
}

export const isWorking = (s: ProjectState) => WORKING_STATUSES.includes(s.status);

/**
 * What goes with entering `phase` as visit `visit` at `now`: the project starts operating when the
 * phase is in its train's endless operations cycle, and a scheduled phase's visit is given its due time.
 */
export function enteringEvents(
  s: ProjectState,
  train: Train,
  phase: Phase,
  visit: number,
  now: Date,
): NewEvent[] {
  const out: NewEvent[] = [];
  if (s.status === 'active' && operatesIn(train, phase))
    out.push(
      event('project.operating', {
        phase: phase.id,
        reason: `${phase.id} is in the operations cycle of ${train.name}, which has no end: the project operates until a person retires it`,
      }),
    );
  if (phase.schedule) {
    const last = s.lastDue[phase.id];
    const due = dueAfterEntry(phase.schedule, now, last ? new Date(last) : null);
    out.push(
      event('visit.scheduled', {
        phase: phase.id,
        visit,
        due_at: due.toISOString(),
        schedule: describeSchedule(phase.schedule),
        period_ms: periodAt(phase.schedule, due),
      }),
    );
  }
  return out;
}
