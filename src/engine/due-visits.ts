import type { Train } from '../train/schema.ts';
import { event, type NewEvent } from './events.ts';
import { isWorking } from './operations.ts';
import type { ProjectState } from './state.ts';
import { decideAddIssue, isOpen } from './tickets.ts';

/*
 * A scheduled visit falls due: decided purely from the project's state and the time given.
 */

/**
 * Queue the current stay's scheduled visit once it is due: a new issue carries it (so a cycle that
 * comes back every week is not mistaken for a runaway loop), or the ticket a person already opened
 * for the phase. A visit queued more than its period after it could first run was missed: noted.
 */
export function decideDueVisit(s: ProjectState, train: Train, now: Date): NewEvent[] {
  const v = s.scheduled;
  if (!isWorking(s) || !v || v.ticket !== null || v.phase !== s.phase || v.visit !== s.visit) return [];
  const due = Date.parse(v.dueAt);
  if (due > now.getTime()) return [];
  const events: NewEvent[] = [];
  // A project on hold or cancelled when its visit fell due could not run it: count from its return.
  const late = now.getTime() - Math.max(due, Date.parse(s.workingSince));
  if (late > v.periodMs)
    events.push(
      event('schedule.missed', {
        phase: v.phase,
        visit: v.visit,
        schedule: v.schedule,
        due_at: v.dueAt,
        checked_at: now.toISOString(),
        late_ms: late,
        period_ms: v.periodMs,
      }),
    );
  let ticket = Object.values(s.tickets).find((t) => t.phase === s.phase && isOpen(t))?.id;
  if (!ticket) {
    const carrier = Object.values(s.tickets).reduce<{ issue: string; seq: number } | null>(
      (best, t) => (!best || t.seq > best.seq ? t : best),
      null,
    );
    const from = carrier ? s.issues[carrier.issue] : undefined;
    const phase = train.phases.find((p) => p.id === v.phase);
    const added = decideAddIssue(s, train, {
      title: `${phase?.name ?? v.phase}: the visit due ${v.dueAt}`,
      priority: from?.priority ?? s.priority,
      labels: [...(from?.labels ?? []).filter((l) => l !== 'scheduled'), 'scheduled'],
      phase: v.phase,
    });
    for (const e of added)
      if (e.type === 'ticket.queued') {
        e.payload.reason = `scheduled: ${v.schedule}, due ${v.dueAt}`;
        ticket = e.payload.ticket;
      }
    events.push(...added);
  }
  events.push(
    event('visit.due', {
      phase: v.phase,
      visit: v.visit,
      due_at: v.dueAt,
      ticket: ticket!,
      late_ms: now.getTime() - due,
    }),
  );
  return events;
}

/** When the current stay's scheduled visit falls due, for read commands; null when nothing is scheduled. */
export function scheduleView(s: ProjectState) {
  const v = s.scheduled;
  if (!v || v.phase !== s.phase || v.visit !== s.visit) return null;
  return {
    phase: v.phase,
    schedule: v.schedule,
    due_at: v.dueAt,
    /** The ticket queued when it fell due; null while the project waits for it. */
    ticket: v.ticket,
  };
}
