import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * Cheap read-only looks into a SQLite store for shell completion: plain better-sqlite3, no Kysely,
 * no migration, and an empty answer instead of an error when anything is off.
 */
function withStore<T>(file: string, fn: (db: Database.Database) => T, fallback: T): T {
  if (!existsSync(file)) return fallback;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  } catch {
    return fallback;
  }
}

export function peekProjectIds(file: string): string[] {
  return withStore(
    file,
    (db) => db.prepare('select id from projects order by id').pluck().all() as string[],
    [],
  );
}

export function peekTicketIds(file: string): string[] {
  return withStore(
    file,
    (db) =>
      db
        .prepare("select id from tickets where status not in ('done', 'cancelled', 'reworked') order by id")
        .pluck()
        .all() as string[],
    [],
  );
}

interface TrainShape {
  phases: {
    id: string;
    checklist?: { id: string }[];
    artifacts?: { id: string }[];
    gates?: { exit?: { id: string }[] };
  }[];
  metrics?: { id: string }[];
}

/** A project's train and current phase, for phase, checklist, artifact, gate and metric ids. */
export function peekProjectTrain(file: string, project: string): { phase: string; train: TrainShape } | null {
  return withStore(
    file,
    (db) => {
      const row = db
        .prepare(
          'select p.phase, t.body from projects p join trains t on t.hash = p.train_hash where p.id = ?',
        )
        .get(project) as { phase: string; body: string } | undefined;
      return row ? { phase: row.phase, train: JSON.parse(row.body) as TrainShape } : null;
    },
    null,
  );
}
