import { type Expression, type SqlBool, sql } from 'kysely';
import { foldablePayload } from '../store/erasure-marker.ts';
import type { DB } from '../store/schema.ts';
import type { Db } from '../store/store.ts';
import type { Train } from '../train/schema.ts';
import { storedTrain } from '../train/stored.ts';
import { WORKING_STATUSES } from '../types.ts';

/*
 * The dashboard's reads, one named query each, over the projection tables and the event log.
 * Lists are paged by a cursor and bounded; related rows for a page come in one query per kind,
 * never one per row. `scope` is the projects a token may read (null: every project).
 */

export type Scope = string[] | null;

export interface PortfolioFilter {
  team?: string | undefined;
  priority?: string | undefined;
  status?: string | undefined;
}

const DAY = 86_400_000;

/** Filters shared by the portfolio's three zooms. */
function projectWhere(f: PortfolioFilter, scope: Scope) {
  return (eb: import('kysely').ExpressionBuilder<DB, 'projects'>) => {
    const and: Expression<SqlBool>[] = [];
    if (f.team !== undefined)
      and.push(f.team === '' ? eb('projects.team', 'is', null) : eb('projects.team', '=', f.team));
    if (f.priority) and.push(eb('projects.priority', '=', f.priority));
    if (f.status) and.push(eb('projects.status', '=', f.status));
    if (scope) and.push(scope.length ? eb('projects.id', 'in', scope) : sql<SqlBool>`0`);
    return eb.and(and);
  };
}

const trainCache = new Map<string, Train>();

/** The trains the store's projects follow, parsed once per process. */
export async function trainsInUse(db: Db): Promise<Map<string, Train>> {
  const hashes = await db.selectFrom('projects').select('train_hash').distinct().execute();
  const missing = hashes.map((h) => h.train_hash).filter((h) => !trainCache.has(h));
  if (missing.length) {
    const rows = await db
      .selectFrom('trains')
      .select(['hash', 'body', 'format'])
      .where('hash', 'in', missing)
      .execute();
    for (const r of rows) trainCache.set(r.hash, await storedTrain(r.hash, r.body, r.format));
  }
  return new Map(
    hashes.flatMap((h) =>
      trainCache.has(h.train_hash) ? [[h.train_hash, trainCache.get(h.train_hash)!]] : [],
    ),
  );
}

/** Columns of the portfolio: the phases of every train in use, in train order, each once. */
export async function portfolioPhases(db: Db): Promise<{ id: string; name: string; stage: string }[]> {
  const seen = new Map<string, { id: string; name: string; stage: string }>();
  for (const t of (await trainsInUse(db)).values())
    for (const p of t.phases) if (!seen.has(p.id)) seen.set(p.id, { id: p.id, name: p.name, stage: p.stage });
  return [...seen.values()];
}

export interface FlowColumn {
  phase: string;
  /** Projects in the phase by project status. */
  statuses: Record<string, number>;
  /** Projects in the phase whose open ticket waits: blocked, awaiting approval, awaiting a person. */
  waiting: Record<string, number>;
  /** Active projects in the phase. */
  wip: number;
  /** Median days active projects have spent in the phase so far. */
  median_age_days: number | null;
}

/** The flow strip: per phase, counts by status, work in progress and median age. */
export async function flowStrip(db: Db, f: PortfolioFilter, scope: Scope, now: Date): Promise<FlowColumn[]> {
  const counts = await db
    .selectFrom('projects')
    .select(['phase', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .where(projectWhere(f, scope))
    .groupBy(['phase', 'status'])
    .execute();
  const waiting = await db
    .selectFrom('tickets as t')
    .innerJoin('projects', (j) =>
      j.onRef('projects.id', '=', 't.project_id').onRef('projects.phase', '=', 't.phase'),
    )
    .select(['t.phase', 't.status', (eb) => eb.fn.count<number>('t.project_id').distinct().as('n')])
    .where('t.status', 'in', ['blocked', 'awaiting-approval', 'awaiting-human'])
    .where(projectWhere(f, scope))
    .groupBy(['t.phase', 't.status'])
    .execute();
  const cols = new Map<string, FlowColumn>();
  const col = (phase: string) => {
    let c = cols.get(phase);
    if (!c) cols.set(phase, (c = { phase, statuses: {}, waiting: {}, wip: 0, median_age_days: null }));
    return c;
  };
  for (const r of counts) {
    col(r.phase).statuses[r.status] = Number(r.n);
    if (r.status === 'active') col(r.phase).wip = Number(r.n);
  }
  for (const r of waiting) col(r.phase).waiting[r.status] = Number(r.n);
  // The median entry time per phase: one or two index entries found by offset, phase by phase.
  for (const c of cols.values()) {
    if (!c.wip) continue;
    const middle = await db
      .selectFrom('projects')
      .select('phase_since')
      .where('status', '=', 'active')
      .where('phase', '=', c.phase)
      .where(projectWhere(f, scope))
      .orderBy('phase_since')
      .limit(c.wip % 2 ? 1 : 2)
      .offset((c.wip - 1) >> 1)
      .execute();
    const ages = middle.map((r) => (now.getTime() - Date.parse(r.phase_since)) / DAY);
    if (ages.length) c.median_age_days = round1(ages.reduce((a, b) => a + b, 0) / ages.length);
  }
  return [...cols.values()];
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The heatmap: projects per team and phase. */
export async function teamPhaseCounts(db: Db, f: PortfolioFilter, scope: Scope) {
  const rows = await db
    .selectFrom('projects')
    .select(['team', 'phase', (eb) => eb.fn.countAll<number>().as('n')])
    .where(projectWhere(f, scope))
    .groupBy(['team', 'phase'])
    .execute();
  return rows.map((r) => ({ team: r.team, phase: r.phase, count: Number(r.n) }));
}

/** Distinct teams and the number of projects matching a filter, for the filter bar and the scroll size. */
export async function portfolioFacets(db: Db, f: PortfolioFilter, scope: Scope) {
  const teams = await db
    .selectFrom('projects')
    .select('team')
    .distinct()
    .where(projectWhere({}, scope))
    .orderBy('team')
    .execute();
  const total = await db
    .selectFrom('projects')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(projectWhere(f, scope))
    .executeTakeFirst();
  return { teams: teams.map((t) => t.team), total: Number(total?.n ?? 0) };
}

export interface MatrixRow {
  id: string;
  name: string;
  team: string | null;
  priority: string;
  status: string;
  phase: string;
  visit: number;
  since: string;
  days_in_phase: number;
  /** Phases left forward (advance or route). */
  done: string[];
  /** Phases the project was sent back from (a failed exit: rework). */
  looped: string[];
  /** The open ticket of the current phase, when one waits or runs. */
  ticket: { id: string; status: string } | null;
}

/** One page of the project × phase matrix, by project id after `after`. */
export async function matrixPage(
  db: Db,
  f: PortfolioFilter,
  scope: Scope,
  page: { after: string | null; limit: number },
  now: Date,
): Promise<{ rows: MatrixRow[]; next: string | null }> {
  let q = db
    .selectFrom('projects')
    .select(['id', 'name', 'team', 'priority', 'status', 'phase', 'visit', 'phase_since as since'])
    .where(projectWhere(f, scope));
  if (page.after) q = q.where('id', '>', page.after);
  const rows = await q
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  const more = rows.length > page.limit;
  const pageRows = rows.slice(0, page.limit);
  const ids = pageRows.map((r) => r.id);
  const moves = ids.length
    ? await db
        .selectFrom('transitions')
        .select(['project_id', 'from_phase', 'to_phase', 'kind'])
        .where('project_id', 'in', ids)
        .execute()
    : [];
  const tickets = ids.length
    ? await db
        .selectFrom('tickets')
        .innerJoin('projects', (j) =>
          j.onRef('projects.id', '=', 'tickets.project_id').onRef('projects.phase', '=', 'tickets.phase'),
        )
        .select(['tickets.id', 'tickets.project_id', 'tickets.status'])
        .where('tickets.project_id', 'in', ids)
        .where('tickets.status', 'not in', ['done', 'reworked', 'cancelled'])
        .execute()
    : [];
  const out = pageRows.map((r): MatrixRow => {
    const mine = moves.filter((m) => m.project_id === r.id);
    const t = tickets.find((x) => x.project_id === r.id);
    return {
      ...r,
      days_in_phase: round1((now.getTime() - Date.parse(r.since)) / DAY),
      done: [...new Set(mine.filter((m) => m.kind !== 'rework').map((m) => m.from_phase))],
      looped: [...new Set(mine.filter((m) => m.kind === 'rework').map((m) => m.from_phase))],
      ticket: t ? { id: t.id, status: t.status } : null,
    };
  });
  return { rows: out, next: more ? out[out.length - 1]!.id : null };
}

/** Ticket statuses a person must act on, and retries after a failure. */
export const ATTENTION_STATUSES = ['blocked', 'awaiting-approval', 'awaiting-human'] as const;

export interface AttentionItem {
  kind: 'blocked' | 'awaiting-approval' | 'awaiting-human' | 'failing';
  ticket: string;
  project: string;
  project_name: string;
  team: string | null;
  phase: string;
  status: string;
  attempts: number;
  since: string;
  reason: string | null;
}

/** Why each ticket has its status now: the reason of its latest status event, for a page of tickets. */
async function ticketReasons(
  db: Db,
  rows: { id: string; project_id: string }[],
): Promise<Map<string, string | null>> {
  const projects = [...new Set(rows.map((r) => r.project_id))];
  const out = new Map<string, string | null>();
  if (!projects.length) return out;
  const events = await db
    .selectFrom('events')
    .select(['payload'])
    .where('project_id', 'in', projects)
    .where('type', '=', 'ticket.status')
    .orderBy('gseq')
    .execute();
  const wanted = new Set(rows.map((r) => r.id));
  for (const e of events) {
    const p = foldablePayload(e.payload) as { ticket: string; reason: string | null };
    if (wanted.has(p.ticket)) out.set(p.ticket, p.reason);
  }
  return out;
}

/** Tickets that need someone: blocked, waiting for approval or a person, or retrying after failures; oldest first. */
export async function attentionPage(
  db: Db,
  scope: Scope,
  page: { after: { since: string; id: string } | null; limit: number; kinds?: readonly string[] | undefined },
): Promise<{ items: AttentionItem[]; next: string | null }> {
  const kinds = page.kinds ?? [...ATTENTION_STATUSES, 'failing'];
  let q = db
    .selectFrom('tickets as t')
    .innerJoin('projects', 'projects.id', 't.project_id')
    .select([
      't.id',
      't.project_id',
      't.phase',
      't.status',
      't.attempts',
      't.updated_at',
      'projects.name',
      'projects.team',
    ])
    .where((eb) =>
      eb.or([
        eb('t.status', 'in', kinds.filter((k) => k !== 'failing').concat(['-'])),
        ...(kinds.includes('failing')
          ? [eb.and([eb('t.status', '=', 'queued'), eb('t.attempts', '>', 0)])]
          : []),
      ]),
    )
    .where('projects.status', 'in', WORKING_STATUSES)
    .where(projectWhere({}, scope));
  if (page.after) {
    const { since, id } = page.after;
    q = q.where((eb) =>
      eb.or([eb('t.updated_at', '>', since), eb.and([eb('t.updated_at', '=', since), eb('t.id', '>', id)])]),
    );
  }
  const rows = await q
    .orderBy('t.updated_at')
    .orderBy('t.id')
    .limit(page.limit + 1)
    .execute();
  const more = rows.length > page.limit;
  const pageRows = rows.slice(0, page.limit);
  const reasons = await ticketReasons(db, pageRows);
  const items = pageRows.map(
    (r): AttentionItem => ({
      kind: r.status === 'queued' ? 'failing' : (r.status as AttentionItem['kind']),
      ticket: r.id,
      project: r.project_id,
      project_name: r.name,
      team: r.team,
      phase: r.phase,
      status: r.status,
      attempts: r.attempts,
      since: r.updated_at,
      reason: reasons.get(r.id) ?? null,
    }),
  );
  const last = pageRows[pageRows.length - 1];
  return { items, next: more && last ? encodeCursor([last.updated_at, last.id]) : null };
}

/** Waivers that are live now and expire within `days`, soonest first (the latest waiver of each gate). */
export async function expiringWaivers(db: Db, scope: Scope, now: Date, days: number) {
  const until = new Date(now.getTime() + days * DAY).toISOString();
  const rows = await db
    .selectFrom('waivers as w')
    .innerJoin('projects', 'projects.id', 'w.project_id')
    .select([
      'w.project_id',
      'w.seq',
      'w.phase',
      'w.gate',
      'w.actor',
      'w.reason',
      'w.expires_at',
      'projects.name',
    ])
    .where('w.expires_at', '>', now.toISOString())
    .where('w.expires_at', '<=', until)
    .where(projectWhere({}, scope))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('waivers as l')
            .select('l.seq')
            .whereRef('l.project_id', '=', 'w.project_id')
            .whereRef('l.phase', '=', 'w.phase')
            .whereRef('l.gate', '=', 'w.gate')
            .whereRef('l.seq', '>', 'w.seq'),
        ),
      ),
    )
    .orderBy('w.expires_at')
    .limit(200)
    .execute();
  return rows.map((r) => ({ ...r, project: r.project_id, project_name: r.name }));
}

/** Everything recorded about one project, bounded, for its page. */
export async function projectRecords(db: Db, id: string) {
  const [
    project,
    transitions,
    gates,
    approvals,
    waivers,
    sessions,
    context,
    handoffs,
    artifacts,
    metrics,
    tickets,
    alerts,
  ] = await Promise.all([
    db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst(),
    db.selectFrom('transitions').selectAll().where('project_id', '=', id).orderBy('n').execute(),
    gateEvaluations(db, id, null, 500),
    db.selectFrom('approvals').selectAll().where('project_id', '=', id).orderBy('seq').execute(),
    db.selectFrom('waivers').selectAll().where('project_id', '=', id).orderBy('seq').execute(),
    db
      .selectFrom('sessions')
      .selectAll()
      .where('project_id', '=', id)
      .orderBy('started_at')
      .limit(1000)
      .execute(),
    db
      .selectFrom('context')
      .selectAll()
      .where('project_id', '=', id)
      .orderBy('seq', 'desc')
      .limit(500)
      .execute(),
    db.selectFrom('handoffs').selectAll().where('project_id', '=', id).orderBy('seq').execute(),
    db
      .selectFrom('artifacts')
      .selectAll()
      .where('project_id', '=', id)
      .orderBy('phase')
      .orderBy('artifact')
      .execute(),
    db.selectFrom('metrics').selectAll().where('project_id', '=', id).orderBy('seq').limit(5000).execute(),
    db.selectFrom('tickets').selectAll().where('project_id', '=', id).orderBy('seq').execute(),
    db.selectFrom('alerts').selectAll().where('project_id', '=', id).orderBy('seq').execute(),
  ]);
  return {
    project,
    transitions,
    gates,
    approvals,
    waivers,
    sessions,
    context,
    handoffs,
    artifacts,
    metrics,
    tickets: tickets.map((t) => ({ ...t, labels: JSON.parse(t.labels) as string[] })),
    alerts,
  };
}

export interface GateEvaluation {
  seq: number;
  gseq: number;
  ts: string;
  actor: string;
  phase: string;
  visit: number;
  side: 'entry' | 'exit';
  passed: boolean;
  results: import('../gates/types.ts').GateResult[];
}

/** Recorded gate evaluations of a project (of one phase, when given), newest last. */
export async function gateEvaluations(
  db: Db,
  id: string,
  phase: string | null,
  limit: number,
): Promise<GateEvaluation[]> {
  const rows = await db
    .selectFrom('events')
    .select(['seq', 'gseq', 'ts', 'actor', 'payload'])
    .where('project_id', '=', id)
    .where('type', '=', 'gate.evaluated')
    .orderBy('seq', 'desc')
    .limit(phase ? 5000 : limit)
    .execute();
  const out: GateEvaluation[] = [];
  for (const r of rows) {
    const p = foldablePayload(r.payload) as Omit<GateEvaluation, 'seq' | 'gseq' | 'ts' | 'actor'>;
    if (phase && p.phase !== phase) continue;
    out.push({ seq: r.seq, gseq: r.gseq, ts: r.ts, actor: r.actor, ...p });
    if (out.length >= limit) break;
  }
  return out.reverse();
}

export interface EventFilter {
  project?: string | undefined;
  type?: string | undefined;
  actor?: string | undefined;
}

/** A page of the event log by store-wide position, newest first (before `before`) or oldest first (after `after`). */
export async function eventsPage(
  db: Db,
  f: EventFilter,
  scope: Scope,
  page: { before?: number | undefined; after?: number | undefined; limit: number },
) {
  let q = db
    .selectFrom('events')
    .select(['gseq', 'project_id', 'seq', 'ts', 'actor', 'type', 'payload', 'hash', 'prev_hash']);
  if (f.project) q = q.where('project_id', '=', f.project);
  if (f.type) q = q.where('type', '=', f.type);
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (scope) q = q.where('project_id', 'in', scope.length ? scope : ['']);
  const newestFirst = page.after === undefined;
  if (page.before !== undefined) q = q.where('gseq', '<', page.before);
  if (page.after !== undefined) q = q.where('gseq', '>', page.after);
  const rows = await q
    .orderBy('gseq', newestFirst ? 'desc' : 'asc')
    .limit(page.limit + 1)
    .execute();
  const more = rows.length > page.limit;
  const events = rows.slice(0, page.limit).map((r) => ({ ...r, payload: JSON.parse(r.payload) as unknown }));
  const last = events[events.length - 1];
  return { events, next: more && last ? last.gseq : null };
}

/** One event by its place in its project's chain (a permalink). */
export async function eventAt(db: Db, project: string, seq: number) {
  const r = await db
    .selectFrom('events')
    .selectAll()
    .where('project_id', '=', project)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return r ? { ...r, payload: JSON.parse(r.payload) as unknown } : null;
}

/** The newest store-wide position: what a live stream polls. */
export async function headGseq(db: Db): Promise<number> {
  const r = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('gseq').as('g'))
    .executeTakeFirst();
  return Number(r?.g ?? 0);
}

/** Events after a store-wide position, in commit order, for a live stream. */
export async function eventsAfter(db: Db, after: number, scope: Scope, limit: number) {
  let q = db
    .selectFrom('events')
    .select(['gseq', 'project_id', 'seq', 'ts', 'actor', 'type', 'payload'])
    .where('gseq', '>', after);
  if (scope) q = q.where('project_id', 'in', scope.length ? scope : ['']);
  const rows = await q.orderBy('gseq').limit(limit).execute();
  return rows.map((r) => ({ ...r, payload: JSON.parse(r.payload) as unknown }));
}

/** The project a ticket belongs to, or null. */
export async function ticketProject(db: Db, ticket: string): Promise<string | null> {
  const r = await db.selectFrom('tickets').select('project_id').where('id', '=', ticket).executeTakeFirst();
  return r?.project_id ?? null;
}

export async function projectExists(db: Db, id: string): Promise<boolean> {
  return !!(await db.selectFrom('projects').select('id').where('id', '=', id).executeTakeFirst());
}

export function encodeCursor(parts: string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(text: string, n: number): string[] | null {
  try {
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'string') ? v : null;
  } catch {
    return null;
  }
}
