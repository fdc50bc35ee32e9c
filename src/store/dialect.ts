import { type Kysely, PostgresAdapter, sql } from 'kysely';

/** True when `db` (a Kysely handle or a transaction) talks to PostgreSQL; SQLite otherwise. */
export function isPostgres<DB>(db: Kysely<DB>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * The database's clock, as an ISO-8601 UTC string with milliseconds (the shape `toISOString()`
 * gives). Lease times come from here only, so workers on machines with drifting clocks agree.
 */
export async function dbNow<DB>(db: Kysely<DB>): Promise<string> {
  const q = isPostgres(db)
    ? sql<{
        now: string;
      }>`select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as now`
    : sql<{ now: string }>`select strftime('%Y-%m-%dT%H:%M:%fZ', 'now') as now`;
  const { rows } = await q.execute(db);
  return rows[0]!.now;
}

/** `iso` moved on by `ms` milliseconds, in the same ISO-8601 shape. */
export function addMs(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}
