import { type Kysely, sql } from 'kysely';
import { isPostgres } from '../dialect.ts';

/**
 * PostgreSQL: events are append-only at the storage level (a trigger refuses UPDATE, DELETE and
 * TRUNCATE; an application role without those privileges is the second lock, see `vt db app-role`),
 * and a one-row counter numbers events store-wide in commit order. SQLite has its triggers
 * (sqliteAfterMigrate) and numbers events under its write lock, so it needs neither.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`create or replace function vt_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'events are append-only' using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`create trigger events_no_update before update or delete on events
    for each row execute function vt_events_append_only()`.execute(db);
  await sql`create trigger events_no_truncate before truncate on events
    for each statement execute function vt_events_append_only()`.execute(db);
  await db.schema
    .createTable('counters')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();
  await sql`insert into counters (name, value) select 'gseq', coalesce(max(gseq), 0) from events`.execute(db);
}
