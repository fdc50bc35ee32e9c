import { type Kysely, sql } from 'kysely';
import { isPostgres } from '../dialect.ts';

/** The channel idle workers LISTEN on: a ticket may have become claimable, or a control flag moved. */
export const WORK_CHANNEL = 'vt_work';
/** The channel live streams LISTEN on: events were committed. */
export const EVENTS_CHANNEL = 'vt_events';

/**
 * Waking idle workers without polling. PostgreSQL: triggers NOTIFY in the same transaction as the
 * change that makes work claimable — a new or moved claim head (a ticket queued, a project's phase
 * or status changed), a lease released (a finished, failed or handed-back ticket frees its project),
 * a control flag (pause, resume, abort) — and as every event append, for live streams. A NOTIFY is
 * delivered only if its transaction commits, and identical ones in a transaction are folded into one.
 * Both backends: an index on retry timers, so an idle worker finds its next wake-up in O(log n).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index tickets_wake on tickets (not_before)
    where claim_rank is not null and not_before is not null`.execute(db);
  await sql`create index leases_expiry on leases (expires_at)`.execute(db);
  if (!isPostgres(db)) return;
  await sql`create or replace function vt_notify_work() returns trigger language plpgsql as $$
    begin
      perform pg_notify(${sql.lit(WORK_CHANNEL)}, '');
      return null;
    end $$`.execute(db);
  await sql`create or replace function vt_notify_events() returns trigger language plpgsql as $$
    begin
      perform pg_notify(${sql.lit(EVENTS_CHANNEL)}, '');
      return null;
    end $$`.execute(db);
  await sql`create trigger claim_heads_wake_insert after insert on claim_heads
    for each row execute function vt_notify_work()`.execute(db);
  await sql`create trigger claim_heads_wake_update after update on claim_heads
    for each row when (old.ticket is distinct from new.ticket) execute function vt_notify_work()`.execute(db);
  await sql`create trigger leases_wake after delete on leases
    for each row execute function vt_notify_work()`.execute(db);
  await sql`create trigger control_wake after insert or update or delete on control
    for each statement execute function vt_notify_work()`.execute(db);
  await sql`create trigger events_wake after insert on events
    for each statement execute function vt_notify_events()`.execute(db);
}
