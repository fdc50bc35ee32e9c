import { type RawBuilder, sql } from 'kysely';
import { PRIORITIES, WORKING_STATUSES } from '../types.ts';
import { isPostgres } from './dialect.ts';
import type { Db, Trx } from './store.ts';

/**
 * The order the autopilot takes work in, deterministically:
 * 1. a ticket whose worker's lease expired (recover first);
 * 2. priority now → next → future;
 * 3. the project claimed least recently (so a busy project cannot starve the others);
 * 4. the oldest ticket, then its seq, then its id.
 * A project with a ticket running under a live lease is skipped: its phases run one at a time.
 *
 * Tickets waiting to be claimed carry their rank (`claim_rank`) and each working (active or operating) project's oldest
 * waiting ticket per rank sits in `claim_heads`, ordered by an index; a claim walks that index from
 * the front, so it reads a few rows however long the queue is.
 */
export const CLAIMABLE_STATUSES = ['queued', 'awaiting-gates'] as const;

export function rankOf(priority: string): number {
  const i = PRIORITIES.indexOf(priority as (typeof PRIORITIES)[number]);
  return i < 0 ? PRIORITIES.length : i;
}

/** rankOf() in SQL, over a priority column. */
const rankCase = (column: string) =>
  sql<number>`case ${sql.ref(column)} ${sql.join(
    PRIORITIES.map((p, i) => sql`when ${sql.lit(p)} then ${sql.lit(i)}`),
    sql` `,
  )} else ${sql.lit(PRIORITIES.length)} end`;

/** The rank of the row's own `priority` column (for updates of tickets). */
export const rankSql = rankCase('priority');

/**
 * Recompute a project's claim heads from its tickets: one index probe per rank, after one that
 * finds whether the phase has a waiting ticket at all (most phase moves have none, and cost then
 * three statements instead of ten).
 */
export async function refreshClaimHeads(trx: Trx, projectId: string): Promise<void> {
  await trx.deleteFrom('claim_heads').where('project_id', '=', projectId).execute();
  const p = await projectOf(trx, projectId);
  if (!p || !(WORKING_STATUSES as string[]).includes(p.status)) return;
  const waiting = await trx
    .selectFrom('tickets')
    .select('id')
    .where('project_id', '=', projectId)
    .where('phase', '=', p.phase)
    .where('claim_rank', 'is not', null)
    .limit(1)
    .executeTakeFirst();
  if (!waiting) return;
  for (let rank = 0; rank <= PRIORITIES.length; rank++) await refreshRank(trx, projectId, p, rank);
}

/**
 * Keep the claim heads right after one ticket event, touching only what it can change: a newly
 * queued ticket can only become the head of an empty rank (it is the newest); a claim moves the
 * project's last claim time and may take a head; a status change may add or take one.
 */
export async function moveClaimHeads(
  trx: Trx,
  projectId: string,
  ticket: string,
  kind: 'queued' | 'claimed' | 'status',
): Promise<void> {
  const p = await projectOf(trx, projectId);
  if (!p || !(WORKING_STATUSES as string[]).includes(p.status)) return;
  const t = await trx
    .selectFrom('tickets')
    .select(['phase', 'priority', 'claim_rank', 'created_at', 'seq'])
    .where('id', '=', ticket)
    .executeTakeFirst();
  if (!t || t.phase !== p.phase) {
    if (kind === 'claimed') await setLastClaim(trx, projectId, p.last_claim_at);
    return;
  }
  const rank = rankOf(t.priority);
  if (kind === 'queued') {
    await trx
      .insertInto('claim_heads')
      .values({
        project_id: projectId,
        rank,
        last_claim_at: p.last_claim_at ?? '',
        created_at: t.created_at,
        seq: t.seq,
        ticket,
      })
      .onConflict((oc) => oc.columns(['project_id', 'rank']).doNothing())
      .execute();
    return;
  }
  if (kind === 'claimed') await setLastClaim(trx, projectId, p.last_claim_at);
  await refreshRank(trx, projectId, p, rank);
}

async function projectOf(trx: Trx, projectId: string) {
  return trx
    .selectFrom('projects')
    .select(['phase', 'status', 'last_claim_at'])
    .where('id', '=', projectId)
    .executeTakeFirst();
}

async function setLastClaim(trx: Trx, projectId: string, at: string | null): Promise<void> {
  await trx
    .updateTable('claim_heads')
    .set({ last_claim_at: at ?? '' })
    .where('project_id', '=', projectId)
    .execute();
}

async function refreshRank(
  trx: Trx,
  projectId: string,
  p: { phase: string; last_claim_at: string | null },
  rank: number,
): Promise<void> {
  const t = await trx
    .selectFrom('tickets')
    .select(['id', 'created_at', 'seq'])
    .where('project_id', '=', projectId)
    .where('phase', '=', p.phase)
    .where('claim_rank', '=', rank)
    .orderBy('created_at')
    .orderBy('seq')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  if (!t) {
    await trx
      .deleteFrom('claim_heads')
      .where('project_id', '=', projectId)
      .where('rank', '=', rank)
      .execute();
    return;
  }
  const row = { last_claim_at: p.last_claim_at ?? '', created_at: t.created_at, seq: t.seq, ticket: t.id };
  await trx
    .insertInto('claim_heads')
    .values({ project_id: projectId, rank, ...row })
    .onConflict((oc) => oc.columns(['project_id', 'rank']).doUpdateSet(row))
    .execute();
}

export interface ClaimFilter {
  /** Only this project's tickets. */
  project?: string | undefined;
  /** Labels a ticket must all carry. */
  labels?: readonly string[] | undefined;
  /** Issues assigned to someone other than these are left to their assignee. */
  assignees?: readonly string[] | undefined;
  /** The engine's clock: tickets waiting on a retry timer (`not_before`) after it are not due. */
  now: string;
  /** The database's clock: leases that end at or before it have expired. */
  leaseNow: string;
  /** Tickets and projects the caller already tried in this transaction. */
  skipTickets?: ReadonlySet<string>;
  skipProjects?: ReadonlySet<string>;
}

export interface ClaimCandidate {
  id: string;
  project_id: string;
  status: string;
}

type Key = [number, string, string, number, string];
const cmp = (a: Key, b: Key): number => {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
};

/** A project holding a ticket that runs under a live lease (in its current phase). */
function busy(project: RawBuilder<unknown>, leaseNow: string) {
  return sql<boolean>`exists (select 1 from leases l
    join tickets bt on bt.id = l.ticket
    join projects bp on bp.id = bt.project_id
    where l.project_id = ${project} and bt.status = 'running' and bt.phase = bp.phase
      and l.expires_at > ${leaseNow})`;
}

/** Re-checked after the project is locked: a claim committed meanwhile makes it busy. */
export async function projectBusy(db: Db | Trx, projectId: string, leaseNow: string): Promise<boolean> {
  const r = await sql<{
    b: number | boolean;
  }>`select case when ${busy(sql`${projectId}`, leaseNow)} then 1 else 0 end as b`.execute(db);
  return Number(r.rows[0]?.b) === 1;
}

/**
 * The next ticket to claim, in the selection order, or null. On PostgreSQL the ticket row is
 * locked (FOR UPDATE SKIP LOCKED): workers claiming at the same moment pass over each other's
 * candidates instead of queueing behind them. The caller still locks the project and re-checks.
 */
export async function nextClaimable(trx: Trx, f: ClaimFilter): Promise<ClaimCandidate | null> {
  const expired = await nextExpired(trx, f);
  if (expired) return expired;
  return nextWaiting(trx, f);
}

/** Running tickets whose lease ended (few: at most one per worker), best first. */
async function nextExpired(trx: Trx, f: ClaimFilter): Promise<ClaimCandidate | null> {
  const pg = isPostgres(trx);
  let q = trx
    .selectFrom('tickets as t')
    .innerJoin('projects as p', 'p.id', 't.project_id')
    .leftJoin('leases as l', 'l.ticket', 't.id')
    .select(['t.id', 't.project_id', 't.status'])
    .where('t.status', '=', 'running')
    .where('p.status', 'in', WORKING_STATUSES)
    .whereRef('t.phase', '=', 'p.phase')
    .where((eb) => eb.or([eb('l.expires_at', 'is', null), eb('l.expires_at', '<=', f.leaseNow)]))
    .where(sql<boolean>`not ${busy(sql.ref('t.project_id'), f.leaseNow)}`);
  if (f.project) q = q.where('t.project_id', '=', f.project);
  if (f.skipTickets?.size) q = q.where('t.id', 'not in', [...f.skipTickets]);
  if (f.skipProjects?.size) q = q.where('t.project_id', 'not in', [...f.skipProjects]);
  const ordered = q
    .orderBy(rankCase('t.priority'))
    .orderBy(sql`coalesce(p.last_claim_at, '')`)
    .orderBy('t.created_at')
    .orderBy('t.seq')
    .orderBy('t.id')
    .limit(1);
  const row = pg
    ? await ordered.forUpdate('t').skipLocked().executeTakeFirst()
    : await ordered.executeTakeFirst();
  return row ?? null;
}

/**
 * Waiting tickets: walk the claim heads in order. A head is a lower bound for its (project, rank):
 * the filters (retry timers, assignees, labels) may pass over it to a later ticket of the same
 * project. The walk stops once the next head cannot beat the best ticket found, so the result is
 * exactly the first eligible ticket in the selection order.
 */
async function nextWaiting(trx: Trx, f: ClaimFilter): Promise<ClaimCandidate | null> {
  const PAGE = 16;
  let best: { key: Key; row: ClaimCandidate } | null = null;
  let after: Key | null = null;
  for (;;) {
    let hq = trx
      .selectFrom('claim_heads as h')
      .innerJoin('projects as p', 'p.id', 'h.project_id')
      .select(['h.project_id', 'p.phase', 'h.rank', 'h.last_claim_at', 'h.created_at', 'h.seq', 'h.ticket'])
      .where(sql<boolean>`not ${busy(sql.ref('h.project_id'), f.leaseNow)}`);
    if (f.project) hq = hq.where('h.project_id', '=', f.project);
    if (f.skipProjects?.size) hq = hq.where('h.project_id', 'not in', [...f.skipProjects]);
    if (after) {
      const [r, l, c, s, t] = after;
      hq = hq.where(
        sql<boolean>`(h.rank, h.last_claim_at, h.created_at, h.seq, h.ticket) > (${r}, ${l}, ${c}, ${s}, ${t})`,
      );
    }
    const heads = await hq
      .orderBy('h.rank')
      .orderBy('h.last_claim_at')
      .orderBy('h.created_at')
      .orderBy('h.seq')
      .orderBy('h.ticket')
      .limit(PAGE)
      .execute();
    for (const h of heads) {
      const bound: Key = [h.rank, h.last_claim_at, h.created_at, h.seq, h.ticket];
      if (best && cmp(bound, best.key) > 0) return best.row;
      const t = await firstEligible(trx, h.project_id, h.phase, h.rank, f);
      if (t) {
        const key: Key = [h.rank, h.last_claim_at, t.created_at, t.seq, t.id];
        if (!best || cmp(key, best.key) < 0)
          best = { key, row: { id: t.id, project_id: h.project_id, status: t.status } };
      }
      after = bound;
    }
    if (heads.length < PAGE) return best?.row ?? null;
  }
}

/**
 * The oldest ticket of a project, phase and rank that passes the filters: a walk of the
 * tickets_claim index from the front (every key column is a constant, so the index gives the order).
 */
async function firstEligible(trx: Trx, projectId: string, phase: string, rank: number, f: ClaimFilter) {
  const pg = isPostgres(trx);
  let q = trx
    .selectFrom('tickets as t')
    .innerJoin('issues as i', 'i.id', 't.issue')
    .select(['t.id', 't.status', 't.created_at', 't.seq'])
    .where('t.project_id', '=', projectId)
    .where('t.phase', '=', phase)
    .where('t.claim_rank', '=', rank)
    .where((eb) => eb.or([eb('t.not_before', 'is', null), eb('t.not_before', '<=', f.now)]));
  const mine = [...(f.assignees ?? [])];
  q = q.where((eb) =>
    mine.length
      ? eb.or([eb('i.assignee', 'is', null), eb('i.assignee', 'in', mine)])
      : eb('i.assignee', 'is', null),
  );
  for (const label of f.labels ?? []) {
    q = pg
      ? q.where(sql<boolean>`t.labels::jsonb @> ${JSON.stringify([label])}::jsonb`)
      : q.where(sql<boolean>`exists (select 1 from json_each(t.labels) where json_each.value = ${label})`);
  }
  if (f.skipTickets?.size) q = q.where('t.id', 'not in', [...f.skipTickets]);
  const ordered = q.orderBy('t.created_at').orderBy('t.seq').orderBy('t.id').limit(1);
  return (
    (pg ? await ordered.forUpdate('t').skipLocked().executeTakeFirst() : await ordered.executeTakeFirst()) ??
    null
  );
}

/** What an idle worker needs to know, without reading the queue: is any work open, and when to look again. */
export interface QueueOutlook {
  /** Some ticket waits to be claimed or runs under a lease (in an active project): more work may come. */
  open: boolean;
  /** The earliest retry timer or lease expiry still ahead, when one is: a claim may succeed then. */
  wakeAt: string | null;
}

/**
 * Index probes only (claim_heads, the tickets_wake and leases_expiry indexes), so an idle worker
 * costs O(log n) however long the queue is. `now` is the engine's clock (retry timers), `leaseNow`
 * the database's (leases). The wake-up may come early (a timer of a ticket in a later phase): the
 * worker then finds nothing to claim and waits again.
 */
export async function queueOutlook(
  db: Db | Trx,
  f: { project?: string | undefined; now: string; leaseNow: string },
): Promise<QueueOutlook> {
  let heads = db.selectFrom('claim_heads').select('project_id').limit(1);
  if (f.project) heads = heads.where('project_id', '=', f.project);
  let leases = db
    .selectFrom('leases as l')
    .innerJoin('projects as p', 'p.id', 'l.project_id')
    .select('l.ticket')
    .where('p.status', '=', 'active')
    .limit(1);
  if (f.project) leases = leases.where('l.project_id', '=', f.project);
  const open = !!(await heads.executeTakeFirst()) || !!(await leases.executeTakeFirst());
  let timer = db
    .selectFrom('tickets')
    .select('not_before')
    .where('claim_rank', 'is not', null)
    .where('not_before', 'is not', null)
    .where('not_before', '>', f.now)
    .orderBy('not_before')
    .limit(1);
  if (f.project) timer = timer.where('project_id', '=', f.project);
  let expiry = db
    .selectFrom('leases')
    .select('expires_at')
    .where('expires_at', '>', f.leaseNow)
    .orderBy('expires_at')
    .limit(1);
  if (f.project) expiry = expiry.where('project_id', '=', f.project);
  const t = (await timer.executeTakeFirst())?.not_before ?? null;
  const l = (await expiry.executeTakeFirst())?.expires_at ?? null;
  const wakeAt = [t, l].filter((x): x is string => x !== null).sort()[0] ?? null;
  return { open, wakeAt };
}
