import { sql } from 'kysely';
import type { Db, Store } from '../store/store.ts';
import type { Train } from '../train/schema.ts';
import { storedTrain } from '../train/stored.ts';
import { WORKING_STATUSES } from '../types.ts';

/**
 * How integrations reach the store: through its transactions (the engine's group commit), never the
 * bare connection, which a busy engine would keep from them (its lock is not first come, first served).
 */
export type StoreRunner = Pick<Store, 'transaction'>;

/*
 * The named queries integrations run: due outbox rows, claiming and settling them, delivery attempts,
 * and what messages need to look up (a train body, session costs, promotions, alias sightings).
 */

/** A row given up on keeps delivered_at NULL and waits here, out of every due query. */
export const GAVE_UP_AT = '9999-12-31T23:59:59.999Z';

export interface OutboxRow {
  id: string;
  project_id: string;
  kind: string;
  payload: string;
  attempts: number;
  next_at: string;
  created_at: string;
}

const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Rows of `kind` due at `now` whose payload starts with `prefix`, oldest first. */
export function dueRows(
  db: Db,
  q: { kind: string; prefix: string; now: string; limit: number },
): Promise<OutboxRow[]> {
  return db
    .selectFrom('outbox')
    .select(['id', 'project_id', 'kind', 'payload', 'attempts', 'next_at', 'created_at'])
    .where('kind', '=', q.kind)
    .where('delivered_at', 'is', null)
    .where('next_at', '<=', q.now)
    .where(sql<boolean>`payload LIKE ${likePrefix(q.prefix)} ESCAPE '\\'`)
    .orderBy('created_at')
    .orderBy('id')
    .limit(q.limit)
    .execute();
}

/**
 * Take a row for one delivery attempt: move next_at to `until` if nobody moved it since it was read
 * (a compare-and-set, so two deliverers never send the same row at once). A crash mid-send leaves the
 * row due again at `until`.
 */
export async function takeRow(db: Db, row: OutboxRow, until: string): Promise<boolean> {
  const r = await db
    .updateTable('outbox')
    .set({ next_at: until })
    .where('id', '=', row.id)
    .where('next_at', '=', row.next_at)
    .where('delivered_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Record a row as delivered (or, with an error, as settled without a send: skipped). */
export async function markDelivered(
  db: Db,
  id: string,
  at: string,
  attempts: number,
  note: string | null = null,
): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ delivered_at: at, attempts, last_error: note })
    .where('id', '=', id)
    .execute();
}

/** Record a failed attempt and when to try again (GAVE_UP_AT to stop). */
export async function retryLater(
  db: Db,
  id: string,
  set: { next_at: string; attempts: number; last_error: string },
): Promise<void> {
  await db.updateTable('outbox').set(set).where('id', '=', id).execute();
}

export interface AttemptRecord {
  outbox_id: string;
  attempt: number;
  endpoint: string;
  at: string;
  outcome: 'delivered' | 'failed' | 'gave-up' | 'skipped';
  http_status: number | null;
  duration_ms: number;
  error: string | null;
}

/** Log one delivery attempt (a re-run of the same attempt number after a crash overwrites it). */
export async function recordAttempt(db: Db, a: AttemptRecord): Promise<void> {
  await db
    .insertInto('webhook_attempts')
    .values(a)
    .onConflict((oc) =>
      oc.columns(['outbox_id', 'attempt']).doUpdateSet({
        at: a.at,
        outcome: a.outcome,
        http_status: a.http_status,
        duration_ms: a.duration_ms,
        error: a.error,
      }),
    )
    .execute();
}

/** Every attempt of one row, in order. */
export function attemptsOf(db: Db, outboxId: string): Promise<AttemptRecord[]> {
  return db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('outbox_id', '=', outboxId)
    .orderBy('attempt')
    .execute() as Promise<AttemptRecord[]>;
}

/** All rows of one kind, newest first, for listings. */
export function rowsOfKind(db: Db, kind: string, limit: number) {
  return db
    .selectFrom('outbox')
    .select([
      'id',
      'project_id',
      'payload',
      'attempts',
      'next_at',
      'delivered_at',
      'last_error',
      'created_at',
    ])
    .where('kind', '=', kind)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** Insert a row outside any event (a test message): written once per id. */
export async function insertRow(
  db: Db,
  row: { id: string; project_id: string; kind: string; payload: string; at: string },
): Promise<void> {
  await db
    .insertInto('outbox')
    .values({
      id: row.id,
      project_id: row.project_id,
      kind: row.kind,
      payload: row.payload,
      attempts: 0,
      next_at: row.at,
      delivered_at: null,
      last_error: null,
      created_at: row.at,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

/** A stored train by its hash (storedTrain: used as stored when its format is current). */
export async function trainByHash(db: Db, hash: string): Promise<Train | null> {
  const r = await db
    .selectFrom('trains')
    .select(['body', 'format'])
    .where('hash', '=', hash)
    .executeTakeFirst();
  return r ? storedTrain(hash, r.body, r.format) : null;
}

/**
 * What a project's sessions had cost up to and including `session` (in the order they ended), and
 * without it: a budget warning is sent only by the session that crosses the line.
 */
export async function spentThrough(
  db: Db,
  project: string,
  session: string,
): Promise<{ before: number; after: number } | null> {
  const me = await db
    .selectFrom('sessions')
    .select(['ended_at', 'cost'])
    .where('id', '=', session)
    .where('project_id', '=', project)
    .executeTakeFirst();
  if (!me?.ended_at) return null;
  const r = await db
    .selectFrom('sessions')
    .select((eb) => eb.fn.sum<number | null>('cost').as('total'))
    .where('project_id', '=', project)
    .where('ended_at', 'is not', null)
    .where((eb) =>
      eb.or([
        eb('ended_at', '<', me.ended_at!),
        eb.and([eb('ended_at', '=', me.ended_at!), eb('id', '<=', session)]),
      ]),
    )
    .executeTakeFirstOrThrow();
  const after = Number(r.total ?? 0);
  return { before: after - (me.cost ?? 0), after };
}

/** The version an alias pointed at when the guard last looked. */
export function aliasSighting(db: Db, key: { tracking_uri: string; model: string; alias: string }) {
  return db
    .selectFrom('mlflow_aliases')
    .selectAll()
    .where('tracking_uri', '=', key.tracking_uri)
    .where('model', '=', key.model)
    .where('alias', '=', key.alias)
    .executeTakeFirst();
}

/** Remember what an alias points at now (and the last move flagged). */
export async function recordSighting(
  db: Db,
  row: {
    tracking_uri: string;
    model: string;
    alias: string;
    version: string | null;
    seen_at: string;
    flagged_version: string | null;
  },
): Promise<void> {
  await db
    .insertInto('mlflow_aliases')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['tracking_uri', 'model', 'alias']).doUpdateSet({
        version: row.version,
        seen_at: row.seen_at,
        flagged_version: row.flagged_version,
      }),
    )
    .execute();
}

/** Payloads of delivered rows of `kind` whose payload starts with `prefix`: what vt itself did. */
export async function deliveredPayloads(db: Db, kind: string, prefix: string): Promise<string[]> {
  const rows = await db
    .selectFrom('outbox')
    .select('payload')
    .where('kind', '=', kind)
    .where('delivered_at', 'is not', null)
    .where(sql<boolean>`payload LIKE ${likePrefix(prefix)} ESCAPE '\\'`)
    .execute();
  return rows.map((r) => r.payload);
}

/** Projects still at work (active, operating or on hold), with the train each pinned. */
export function liveProjects(db: Db): Promise<{ id: string; train_hash: string }[]> {
  return db
    .selectFrom('projects')
    .select(['id', 'train_hash'])
    .where('status', 'in', [...WORKING_STATUSES, 'on-hold'])
    .orderBy('id')
    .execute();
}
