import { WORKING_STATUSES } from '../types.ts';
import { addMs, dbNow } from './dialect.ts';
import type { Db, Trx } from './store.ts';

/** A claimable-looking ticket row, as the queue query returns it. */
export interface QueueRow {
  id: string;
  project_id: string;
  status: string;
  not_before: string | null;
  priority: string;
  labels: string;
  created_at: string;
  seq: number;
  last_claim_at: string | null;
  assignee: string | null;
  lease_expires_at: string | null;
}

/** Tickets that may be claimable: open, in their project's current phase, of a working project (active or operating). */
export async function queueRows(db: Db | Trx, project?: string): Promise<QueueRow[]> {
  let q = db
    .selectFrom('tickets as t')
    .innerJoin('projects as p', 'p.id', 't.project_id')
    .innerJoin('issues as i', 'i.id', 't.issue')
    .leftJoin('leases as l', 'l.ticket', 't.id')
    .select([
      't.id',
      't.project_id',
      't.status',
      't.not_before',
      't.priority',
      't.labels',
      't.created_at',
      't.seq',
      'p.last_claim_at',
      'i.assignee',
      'l.expires_at as lease_expires_at',
    ])
    .where('p.status', 'in', WORKING_STATUSES)
    .whereRef('t.phase', '=', 'p.phase')
    .where('t.status', 'in', ['queued', 'awaiting-gates', 'running']);
  if (project) q = q.where('t.project_id', '=', project);
  return q.execute();
}

export async function projectOfTicket(db: Db | Trx, ticket: string): Promise<string | null> {
  const row = await db.selectFrom('tickets').select('project_id').where('id', '=', ticket).executeTakeFirst();
  return row?.project_id ?? null;
}

export async function upsertLease(
  trx: Trx,
  lease: { ticket: string; project_id: string; worker: string; lease_gen: number; expires_at: string },
): Promise<void> {
  await trx
    .insertInto('leases')
    .values(lease)
    .onConflict((oc) =>
      oc
        .column('ticket')
        .doUpdateSet({ worker: lease.worker, lease_gen: lease.lease_gen, expires_at: lease.expires_at }),
    )
    .execute();
}

/**
 * Extend a lease by `leaseMs` from the database's clock; false when the worker no longer holds it
 * (another claimed the ticket, or it expired: an expired lease is never revived).
 */
export async function extendLease(
  db: Db,
  ticket: string,
  gen: number,
  worker: string,
  leaseMs: number,
): Promise<boolean> {
  const now = await dbNow(db);
  const expiresAt = addMs(now, leaseMs);
  const r = await db
    .updateTable('leases')
    .set({ expires_at: expiresAt })
    .where('ticket', '=', ticket)
    .where('lease_gen', '=', gen)
    .where('worker', '=', worker)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function releaseLease(trx: Trx, ticket: string, gen: number): Promise<void> {
  await trx.deleteFrom('leases').where('ticket', '=', ticket).where('lease_gen', '=', gen).execute();
}

export async function getControl(db: Db, key: string): Promise<string | null> {
  const r = await db.selectFrom('control').select('value').where('key', '=', key).executeTakeFirst();
  return r?.value ?? null;
}

export async function setControl(db: Db, key: string, value: string | null, now: string): Promise<void> {
  if (value === null) {
    await db.deleteFrom('control').where('key', '=', key).execute();
    return;
  }
  await db
    .insertInto('control')
    .values({ key, value, updated_at: now })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: now }))
    .execute();
}

/** Tickets waiting for a person (approvals, human work, blocked), longest waiting first, with why. */
export async function inboxRows(db: Db | Trx) {
  return db
    .selectFrom('tickets')
    .select(['id', 'project_id', 'phase', 'status', 'reason', 'attempts', 'updated_at'])
    .where('status', 'in', ['awaiting-approval', 'awaiting-human', 'blocked'])
    .orderBy('updated_at')
    .orderBy('id')
    .execute();
}
