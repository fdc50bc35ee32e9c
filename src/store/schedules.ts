import { WORKING_STATUSES } from '../types.ts';
import type { Db, Trx } from './store.ts';

/*
 * The store's questions about scheduled visits: what is due, what falls due next, what each project waits for.
 */

/** A visit of a working project's current stay that waits for its due time. */
export interface WaitingVisit {
  project_id: string;
  phase: string;
  visit: number;
  due_at: string;
  schedule: string;
  period_ms: number;
}

function waiting(db: Db | Trx, project?: string) {
  let q = db
    .selectFrom('scheduled_visits as v')
    .innerJoin('projects as p', 'p.id', 'v.project_id')
    .select(['v.project_id', 'v.phase', 'v.visit', 'v.due_at', 'v.schedule', 'v.period_ms'])
    .where('v.ticket', 'is', null)
    .where('p.status', 'in', WORKING_STATUSES)
    .whereRef('p.phase', '=', 'v.phase')
    .whereRef('p.visit', '=', 'v.visit');
  if (project) q = q.where('v.project_id', '=', project);
  return q;
}

/** Visits due at `now` or earlier and not queued yet, earliest first. */
export function dueVisits(db: Db | Trx, now: Date, project?: string): Promise<WaitingVisit[]> {
  return waiting(db, project)
    .where('v.due_at', '<=', now.toISOString())
    .orderBy('v.due_at')
    .orderBy('v.project_id')
    .execute();
}

/** Every visit that waits for its due time (due or not), earliest first. */
export function waitingVisits(db: Db | Trx, project?: string): Promise<WaitingVisit[]> {
  return waiting(db, project).orderBy('v.due_at').orderBy('v.project_id').execute();
}

/** The earliest due time still waiting, if any. */
export async function nextDueAt(db: Db | Trx, project?: string): Promise<string | null> {
  const row = await waiting(db, project).orderBy('v.due_at').limit(1).executeTakeFirst();
  return row?.due_at ?? null;
}

/** What a project waits for next, as `vt plan` shows it. */
export interface PlanRow {
  project: string;
  status: string;
  phase: string;
  /** `ticket`: work is queued or under way; `visit`: a scheduled visit waits for its due time; `nothing`: no work queued. */
  next: 'ticket' | 'visit' | 'nothing';
  ticket: string | null;
  ticket_status: string | null;
  schedule: string | null;
  due_at: string | null;
  /** The scheduled visit is due and no worker has queued it yet. */
  overdue: boolean;
}

const CLOSED = ['done', 'reworked', 'cancelled'];

/**
 * What falls due next for each working project (or for `project`, whatever its status): its open
 * ticket in the current phase, else its scheduled visit, else nothing. Tickets first, then visits by
 * due time.
 */
export async function planRows(db: Db | Trx, now: Date, project?: string): Promise<PlanRow[]> {
  let projects = db.selectFrom('projects').select(['id', 'status', 'phase']).orderBy('id');
  projects = project ? projects.where('id', '=', project) : projects.where('status', 'in', WORKING_STATUSES);
  let tickets = db
    .selectFrom('tickets as t')
    .innerJoin('projects as p', 'p.id', 't.project_id')
    .select(['t.id', 't.project_id', 't.status'])
    .whereRef('t.phase', '=', 'p.phase')
    .where('t.status', 'not in', CLOSED)
    .orderBy('t.seq');
  if (project) tickets = tickets.where('t.project_id', '=', project);
  const open = new Map<string, { id: string; status: string }>();
  for (const t of await tickets.execute()) if (!open.has(t.project_id)) open.set(t.project_id, t);
  const visits = new Map((await waitingVisits(db, project)).map((v) => [v.project_id, v]));
  const rank = { ticket: 0, visit: 1, nothing: 2 };
  return (await projects.execute())
    .map((p): PlanRow => {
      const t = open.get(p.id);
      const v = visits.get(p.id);
      return {
        project: p.id,
        status: p.status,
        phase: p.phase,
        next: t ? 'ticket' : v ? 'visit' : 'nothing',
        ticket: t?.id ?? null,
        ticket_status: t?.status ?? null,
        schedule: v?.schedule ?? null,
        due_at: v?.due_at ?? null,
        overdue: !t && !!v && v.due_at <= now.toISOString(),
      };
    })
    .sort(
      (a, b) =>
        rank[a.next] - rank[b.next] ||
        (a.due_at ?? '').localeCompare(b.due_at ?? '') ||
        a.project.localeCompare(b.project),
    );
}
