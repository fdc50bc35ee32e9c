import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { VtError } from '../errors.ts';
import { isPostgres } from './dialect.ts';
import { MIGRATIONS, migrationProvider } from './migrations/index.ts';
import type { Db } from './store.ts';

export interface SchemaStatus {
  /** Migrations this version of vt knows, in order. */
  expected: string[];
  /** Migrations recorded in the store. */
  applied: string[];
  /** Known but not yet applied: the store is behind. */
  pending: string[];
  /** Applied but unknown here: the store was migrated by a newer vt. */
  unknown: string[];
}

/** Read the schema version without writing anything (no lock, no transaction). */
export async function schemaStatus(db: Db): Promise<SchemaStatus> {
  const expected = Object.keys(MIGRATIONS).sort();
  let applied: string[] = [];
  const exists = isPostgres(db)
    ? await sql<{ n: number }>`select count(*) as n from information_schema.tables
        where table_name = 'kysely_migration' and table_schema = current_schema()`.execute(db)
    : await sql<{
        n: number;
      }>`select count(*) as n from sqlite_master where type = 'table' and name = 'kysely_migration'`.execute(
        db,
      );
  if (Number(exists.rows[0]?.n ?? 0) > 0) {
    const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
    applied = rows.rows.map((r) => r.name);
  }
  return {
    expected,
    applied,
    pending: expected.filter((m) => !applied.includes(m)),
    unknown: applied.filter((m) => !expected.includes(m)),
  };
}

/** Refuse a store migrated by a newer vt: this version would misread it. */
export function requireKnownSchema(status: SchemaStatus, location: string): void {
  if (status.unknown.length)
    throw new VtError(
      'STORE_ERROR',
      `the store ${location} was migrated by a newer vt (${status.unknown.join(', ')}); this version cannot use it`,
      { hint: 'Upgrade vt (npm install -g value-train@latest)' },
    );
}

/**
 * Apply pending migrations, each in its own transaction; concurrent migrators wait on a lock.
 * Migration numbers are reserved in ranges per area, so a lower number may arrive after a higher
 * one was applied: unordered runs are allowed.
 */
export async function migrateToLatest(db: Db, location: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    if ((error as { code?: string }).code?.startsWith('SQLITE_')) throw error; // a full disk or a damaged file: the caller names it
    const msg = (error as Error).message ?? String(error);
    const denied = /permission denied|must be owner/i.test(msg);
    throw new VtError('STORE_ERROR', `migration ${failed} of ${location} failed: ${msg}`, {
      hint: denied
        ? 'This role may not change the schema: run `vt db migrate` as the owner of the vt tables'
        : 'See: vt db status',
    });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when one of these migrations reshaped projection tables (they are rebuilt from events). */
export function reshapesProjections(applied: readonly string[]): boolean {
  return applied.some(
    (m) => (MIGRATIONS[m] as { rebuildsProjections?: boolean } | undefined)?.rebuildsProjections,
  );
}
