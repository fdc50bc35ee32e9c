import { type Kysely, sql } from 'kysely';
import { PROJECT_STATUSES } from '../../types.ts';
import { isPostgres } from '../dialect.ts';

/**
 * Projects that operate until retired: the status CHECK of `projects` follows PROJECT_STATUSES
 * again (now with `operating` and `retired`), and `operating_since` says when a project entered its
 * operations cycle (so resuming or reopening it returns it to operating).
 *
 * SQLite cannot change a CHECK in place: the table is rebuilt from its own stored definition with
 * only the status list replaced, whatever columns other migrations added, and its indexes recreated.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('projects').addColumn('operating_since', 'text').execute();
  const statuses = Object.keys(PROJECT_STATUSES);
  const check = sql`status in (${sql.join(statuses.map((s) => sql.lit(s)))})`;
  if (isPostgres(db)) {
    await sql`alter table projects drop constraint if exists projects_status_check`.execute(db);
    await sql`alter table projects add constraint projects_status_check check (${check})`.execute(db);
    return;
  }
  const { rows } = await sql<{ type: string; sql: string | null }>`
    select type, sql from sqlite_master where tbl_name = 'projects' and sql is not null`.execute(db);
  const table = rows.find((r) => r.type === 'table')?.sql;
  if (!table) throw new Error('no projects table to migrate');
  const listed = /check \(status in \(([^)]*)\)\)/i.exec(table);
  if (!listed) throw new Error('the projects table has no status check to widen');
  if (statuses.every((s) => listed[1]!.includes(`'${s}'`))) return; // made with every status already
  const list = statuses.map((s) => `'${s.replaceAll("'", "''")}'`).join(', ');
  const rebuilt = table
    .replace(listed[0], `check (status in (${list}))`)
    .replace(/^CREATE TABLE "?projects"?/i, 'CREATE TABLE "projects_050"');
  await sql.raw(rebuilt).execute(db);
  await sql`insert into projects_050 select * from projects`.execute(db);
  await sql`drop table projects`.execute(db);
  await sql`alter table projects_050 rename to projects`.execute(db);
  for (const r of rows) if (r.type === 'index' && r.sql) await sql.raw(r.sql).execute(db);
}
