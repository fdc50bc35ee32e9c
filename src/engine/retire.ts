import { VtError } from '../errors.ts';
import { event, type NewEvent } from './events.ts';
import type { ProjectState } from './state.ts';
import { isOpen } from './tickets.ts';

/**
 * A person retires an operating project: the model leaves service and the project's work ends on the
 * record. Open tickets are cancelled, open sessions closed and open issues closed with it.
 */
export function decideRetire(s: ProjectState, reason: string | null): NewEvent[] {
  if (!reason?.trim()) throw new VtError('BAD_INPUT', 'retiring a project needs a reason (--reason)');
  if (s.status === 'retired') throw new VtError('INVALID_STATE', `project ${s.id} is retired already`);
  if (!s.operatingSince || !(s.status === 'operating' || s.status === 'on-hold'))
    throw new VtError(
      'INVALID_STATE',
      `project ${s.id} is ${s.status}, not operating: only a project in operations is retired`,
      s.status === 'active' || s.status === 'on-hold'
        ? { hint: `To stop it before operations, cancel it: vt cancel ${s.id} --reason …` }
        : {},
    );
  const why = `the project was retired: ${reason.trim()}`;
  const events: NewEvent[] = [event('project.retired', { reason: reason.trim(), phase: s.phase })];
  for (const sess of Object.values(s.sessions))
    if (!sess.ended)
      events.push(
        event('session.ended', {
          session: sess.id,
          outcome: 'abandoned',
          exit_code: null,
          summary: why,
          tokens_in: null,
          tokens_out: null,
          cost: null,
        }),
      );
  for (const t of Object.values(s.tickets))
    if (isOpen(t)) events.push(event('ticket.finished', { ticket: t.id, outcome: 'cancelled', reason: why }));
  for (const issue of Object.values(s.issues))
    if (!issue.closed) events.push(event('issue.closed', { issue: issue.id, reason: why }));
  return events;
}
