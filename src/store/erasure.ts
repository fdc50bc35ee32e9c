import { sql } from 'kysely';
import { readEvents, toRecorded } from './append.ts';
import type { StoredEvent } from './chain.ts';
import { ERASED_TEXT } from './erasure-marker.ts';
import { PROJECTION_TABLES, project } from './projector.ts';
import type { Db, Store, Trx } from './store.ts';

/*
 * The store's side of erasing a payload (the engine decides, see src/engine/erasure.ts): replace the
 * payload column with its marker (the only UPDATE the events table allows, see the events guard in
 * dialects/sqlite.ts and migration 060), rebuild the project's projections from the events, and
 * scrub the copies of the text the store keeps beside them.
 */

/** One event row as stored, or undefined. */
export async function readEventRow(
  db: Db | Trx,
  projectId: string,
  seq: number,
): Promise<StoredEvent | undefined> {
  return db
    .selectFrom('events')
    .select([
      'project_id',
      'seq',
      'ts',
      'actor',
      'type',
      'payload',
      'payload_sha256',
      'prev_hash',
      'hash',
      'idempotency_key',
    ])
    .where('project_id', '=', projectId)
    .where('seq', '=', seq)
    .executeTakeFirst();
}

/** Put the marker in place of the payload; every other column stays as it was. */
export async function replacePayload(
  trx: Trx,
  projectId: string,
  seq: number,
  marker: string,
): Promise<void> {
  const r = await trx
    .updateTable('events')
    .set({ payload: marker })
    .where('project_id', '=', projectId)
    .where('seq', '=', seq)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) throw new Error(`event ${projectId}#${seq} was not updated`);
}

/** Clear one project's rows from every projection and replay its events into them. */
export async function reprojectProject(trx: Trx, projectId: string): Promise<number> {
  for (const t of PROJECTION_TABLES) {
    if (t === 'projects') await trx.deleteFrom('projects').where('id', '=', projectId).execute();
    else await trx.deleteFrom(t).where('project_id', '=', projectId).execute();
  }
  let n = 0;
  let after = 0;
  for (;;) {
    const rows = await readEvents(trx, projectId, after);
    for (const row of rows) {
      await project(trx, toRecorded(row));
      n++;
    }
    if (!rows.length) return n;
    after = rows[rows.length - 1]!.seq;
    if (rows.length < 1000) return n;
  }
}

const scrubText = (text: string, texts: readonly string[]) => {
  let out = text;
  for (const t of texts) if (out.includes(t)) out = out.split(t).join(ERASED_TEXT);
  return out;
};

/**
 * Copies of an event's text kept beside the events: the project's state snapshots (dropped: they are
 * rebuilt from the events), the command line its idempotency key recorded, and outbox entries
 * (webhooks, comments) and their delivery errors that quote it. Returns how many rows changed.
 */
export async function scrubCopies(
  trx: Trx,
  projectId: string,
  seq: number,
  texts: readonly string[],
): Promise<number> {
  let n = Number(
    (await trx.deleteFrom('snapshots').where('project_id', '=', projectId).executeTakeFirst()).numDeletedRows,
  );
  n += Number(
    (
      await trx
        .updateTable('idempotency_requests')
        .set({ request: ERASED_TEXT })
        .where('project_id', '=', projectId)
        .where('seq', '=', seq)
        .executeTakeFirst()
    ).numUpdatedRows,
  );
  // Only texts long enough to be what was erased, not a common word that happens to be in it.
  const long = texts.filter((t) => t.length >= 8);
  if (!long.length) return n;
  const jsonForms = [...new Set(long.flatMap((t) => [t, JSON.stringify(t).slice(1, -1)]))];
  const rows = await trx
    .selectFrom('outbox')
    .select(['id', 'payload', 'last_error'])
    .where('project_id', '=', projectId)
    .execute();
  for (const r of rows) {
    const payload = scrubText(r.payload, jsonForms);
    const lastError = r.last_error === null ? null : scrubText(r.last_error, long);
    if (payload !== r.payload || lastError !== r.last_error) {
      await trx
        .updateTable('outbox')
        .set({ payload, last_error: lastError })
        .where('id', '=', r.id)
        .execute();
      n++;
    }
    const attempts = await trx
      .selectFrom('webhook_attempts')
      .select(['attempt', 'error'])
      .where('outbox_id', '=', r.id)
      .where('error', 'is not', null)
      .execute();
    for (const a of attempts) {
      const error = scrubText(a.error!, long);
      if (error === a.error) continue;
      await trx
        .updateTable('webhook_attempts')
        .set({ error })
        .where('outbox_id', '=', r.id)
        .where('attempt', '=', a.attempt)
        .execute();
      n++;
    }
  }
  return n;
}

/** What became of the erased bytes on disk once the erasure committed. */
export interface Compaction {
  /** SQLite: the file was rewritten (VACUUM), so no free page keeps an old copy. */
  vacuumed: boolean;
  /** SQLite: the write-ahead log was checkpointed and truncated to nothing. */
  walTruncated: boolean;
  /** What is left to do, for people (e.g. on PostgreSQL: VACUUM FULL events as its owner). */
  note: string | null;
}

/**
 * After an erasure commits: rewrite the SQLite file and truncate its write-ahead log, so the old
 * payload survives neither in a free page nor in a WAL frame. PostgreSQL keeps the old row
 * version until `VACUUM FULL events` (an exclusive lock, so vt leaves it to the owner).
 */
export async function compactAfterErasure(store: Store): Promise<Compaction> {
  if (store.kind !== 'sqlite')
    return {
      vacuumed: false,
      walTruncated: false,
      note: 'PostgreSQL keeps the old row version in the events table until its owner runs VACUUM FULL events, and in WAL archives and backups until they expire',
    };
  try {
    await sql`vacuum`.execute(store.db);
  } catch (err) {
    return {
      vacuumed: false,
      walTruncated: false,
      note: `the store could not be rewritten (${(err as Error).message}): run vt audit erase again later, or VACUUM the file`,
    };
  }
  const r = await sql<{ busy: number }>`pragma wal_checkpoint(truncate)`.execute(store.db);
  const walTruncated = Number(r.rows[0]?.busy ?? 1) === 0;
  return {
    vacuumed: true,
    walTruncated,
    note: walTruncated
      ? null
      : 'another process holds the store open: the write-ahead log is truncated at its next checkpoint',
  };
}
