import type { Engine } from '../engine/engine.ts';
import { Schedules } from '../engine/schedule-ops.ts';
import { VtError } from '../errors.ts';
import { dueVisits, nextDueAt } from '../store/schedules.ts';

/** A scheduled visit a worker queued, or failed to. */
export type ScheduledOutcome =
  | {
      type: 'scheduled';
      project: string;
      phase: string;
      due_at: string;
      ticket: string;
      late_ms: number;
      /** True when it was queued more than its period late (a `schedule.missed` event was recorded). */
      missed: boolean;
    }
  | { type: 'schedule-error'; project: string; phase: string; due_at: string; reason: string };

/**
 * Queue every scheduled visit that is due, once each: what `vt autopilot` and `vt worker` run on
 * every turn of their loop, and `vt plan` for one project. Visits another worker queued first are
 * skipped quietly; `nextDue` is the earliest due time still waiting afterwards.
 */
export async function queueDueVisits(
  engine: Engine,
  opts: { project?: string | undefined } = {},
): Promise<{ outcomes: ScheduledOutcome[]; nextDue: string | null }> {
  const schedules = new Schedules(engine);
  const outcomes: ScheduledOutcome[] = [];
  for (const v of await dueVisits(engine.store.db, engine.clock.now(), opts.project)) {
    try {
      const c = await schedules.queueDue(v.project_id, v.phase, v.due_at);
      if (c.replayed) continue;
      const due = c.events.find((e) => e.type === 'visit.due');
      if (due?.type !== 'visit.due') continue;
      outcomes.push({
        type: 'scheduled',
        project: v.project_id,
        phase: v.phase,
        due_at: v.due_at,
        ticket: due.payload.ticket,
        late_ms: due.payload.late_ms,
        missed: c.events.some((e) => e.type === 'schedule.missed'),
      });
    } catch (err) {
      // Another worker moved the project on first: nothing is lost, its own turn queued the visit.
      if (err instanceof VtError && err.code === 'CONFLICT') continue;
      outcomes.push({
        type: 'schedule-error',
        project: v.project_id,
        phase: v.phase,
        due_at: v.due_at,
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }
  return { outcomes, nextDue: await nextDueAt(engine.store.db, opts.project) };
}
