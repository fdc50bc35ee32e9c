import { sql } from 'kysely';
import { canonicalJson, sha256 } from '../canonical.ts';
import type { NewEvent, RecordedEvent } from '../engine/events.ts';
import { redactDeep, redactor } from '../redact.ts';
import { eventHash, GENESIS_HASH, type StoredEvent } from './chain.ts';
import { foldablePayload } from './erasure-marker.ts';
import { appendToLog } from './merkle-log.ts';
import type { Db, Trx } from './store.ts';

/** Takes appended events (with their gseq) into the global log, in the append transaction. */
export type Sequencer = (
  trx: Trx,
  events: readonly { gseq: number; project_id: string; seq: number; hash: string }[],
) => Promise<void>;

/**
 * Append events to a project's chain inside the caller's transaction. The (project_id, seq) key
 * makes a forked chain impossible: a writer that raced past a stale head fails instead. The
 * sequencer is the Merkle log's; only a benchmark's reference run passes another.
 */
export async function appendEvents(
  trx: Trx,
  projectId: string,
  head: { seq: number; hash: string },
  events: readonly NewEvent[],
  meta: { ts: string; actor: string; idempotencyKey: string | null },
  sequencer: Sequencer = appendToLog,
): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  const rows: StoredEvent[] = [];
  let prev = head.seq === 0 ? GENESIS_HASH : head.hash;
  let seq = head.seq;
  // Secrets never reach the chain: every string of every payload is redacted before it is hashed.
  const clean = redactor();
  events.forEach((e, i) => {
    seq += 1;
    const redacted = redactDeep(e.payload, clean);
    const payload = canonicalJson(redacted);
    const row: Omit<StoredEvent, 'hash'> = {
      project_id: projectId,
      seq,
      ts: meta.ts,
      actor: meta.actor,
      type: e.type,
      payload,
      payload_sha256: sha256(payload),
      prev_hash: prev,
      idempotency_key: i === 0 ? meta.idempotencyKey : null,
    };
    const hash = eventHash(prev, row);
    rows.push({ ...row, hash });
    out.push({
      type: e.type,
      payload: redacted,
      project_id: projectId,
      seq,
      ts: meta.ts,
      actor: meta.actor,
      hash,
    } as RecordedEvent);
    prev = hash;
  });
  const deferred = pending.get(trx);
  if (deferred) {
    if (rows.length) deferred.push({ rows, sequencer });
  } else if (rows.length) {
    // SQLite: appends are serialised (BEGIN IMMEDIATE), so max + 1 numbers events in commit order.
    const top = await trx
      .selectFrom('events')
      .select((eb) => eb.fn.max('gseq').as('g'))
      .executeTakeFirst();
    const g = Number(top?.g ?? 0);
    const numbered = rows.map((r, i) => ({ ...r, gseq: g + i + 1 }));
    await trx.insertInto('events').values(numbered).execute();
    // The global Merkle log takes the same events as leaves, in the same transaction, just before
    // it commits (logAppended).
    const first = toLog.get(trx)?.first ?? Number.POSITIVE_INFINITY;
    toLog.set(trx, { first: Math.min(first, g + 1), log: sequencer !== unlogged });
  }
  return out;
}

/**
 * SQLite: the first event number each open transaction appended, and whether to log them (the
 * store's own sequencer does, at commit; `unlogged` is the only other sequencer).
 * A group commit runs many callers in one transaction, each in a savepoint; logging once at its end
 * costs the log's statements once per commit instead of once per caller, and whatever a rolled-back
 * savepoint appended is gone from the table by then, so it is never logged.
 */
const toLog = new WeakMap<Trx, { first: number; log: boolean }>();

/** A sequencer that logs nothing: only a benchmark's reference run, the engine without the log. */
export const unlogged: Sequencer = async () => {};

/**
 * SQLite, just before a transaction commits: take the events it appended into the Merkle log. They
 * are read back from the first number it appended, so the log finds any event another hand put in
 * the table before them (the sequencer then refuses: the log must not seal what vt did not write).
 * `logFrom` is the store's sequencer on its own connection (sqliteSequencer).
 */
export function logAppended(logFrom: (first: number) => void): (trx: Trx) => Promise<void> {
  return async (trx) => {
    const mine = toLog.get(trx);
    toLog.delete(trx);
    if (mine?.log) logFrom(mine.first);
  };
}

/**
 * PostgreSQL: events appended in a transaction wait here and are inserted by
 * flushDeferredAppends() at its end, numbered under the store-wide counter's row lock. Writers of
 * different projects run in parallel until that point and queue only for the last few statements;
 * a transaction that rolls back takes its numbers back with it, so `gseq` has no gaps and follows
 * commit order. The Merkle log's sequencer runs there too, under the same lock, once the events
 * have their numbers: leaves go into the log in `gseq` order, as on SQLite.
 */
const pending = new WeakMap<Trx, { rows: StoredEvent[]; sequencer: Sequencer }[]>();
/** Work that needs this transaction's events in the table (an erasure's UPDATE names its record). */
const afterFlush = new WeakMap<Trx, (() => Promise<void>)[]>();

export function beginDeferredAppends(trx: Trx): void {
  pending.set(trx, []);
}

/**
 * Run `fn` once the events appended so far in `trx` are in the events table: at once on SQLite,
 * after the deferred insert at the transaction's end on PostgreSQL.
 */
export async function afterAppends(trx: Trx, fn: () => Promise<void>): Promise<void> {
  if (!pending.has(trx)) return fn();
  const list = afterFlush.get(trx) ?? [];
  list.push(fn);
  afterFlush.set(trx, list);
}

/**
 * How long a transaction holding the order lock may sit idle (PostgreSQL): a writer stopped there
 * (SIGSTOP, a debugger, a stalled VM) is cut off after this instead of the connection's minute, so
 * it holds every other writer up for seconds. What runs under the lock is a few statements (and,
 * for an erasure, re-projecting one project), never a wait on anything outside the database.
 */
export const ORDER_LOCK_IDLE_MS = 10_000;

/**
 * The row whose lock orders every commit that appends events (the Merkle log appends under it too).
 * The same statement shortens the transaction's idle-in-transaction timeout for the rest of it.
 */
export async function lockGlobalOrder(trx: Trx): Promise<number> {
  const r = await sql<{ value: number }>`select value,
      set_config('idle_in_transaction_session_timeout', ${String(ORDER_LOCK_IDLE_MS)}, true) as idle
    from counters where name = 'gseq' for update`.execute(trx);
  return Number(r.rows[0]?.value ?? 0);
}

export async function flushDeferredAppends(trx: Trx): Promise<void> {
  const batches = pending.get(trx);
  pending.delete(trx);
  const then = afterFlush.get(trx) ?? [];
  afterFlush.delete(trx);
  if (batches?.length) await insertNumbered(trx, batches);
  for (const fn of then) await fn();
}

/** Number the deferred events, insert them and log them, all under the counter's row lock. */
async function insertNumbered(
  trx: Trx,
  batches: readonly { rows: StoredEvent[]; sequencer: Sequencer }[],
): Promise<void> {
  const total = batches.reduce((n, b) => n + b.rows.length, 0);
  if (!total) return;
  const top = await lockGlobalOrder(trx);
  await sql`update counters set value = ${top + total} where name = 'gseq'`.execute(trx);
  let g = top;
  const numbered = batches.map((b) => ({
    sequencer: b.sequencer,
    rows: b.rows.map((r) => ({ ...r, gseq: ++g })),
  }));
  const all = numbered.flatMap((b) => b.rows);
  for (let i = 0; i < all.length; i += 1000)
    await trx
      .insertInto('events')
      .values(all.slice(i, i + 1000))
      .execute();
  // Still under the counter's lock: the log takes the events in the order they were just numbered.
  // Consecutive appends with the same sequencer (all of them, but in a benchmark) go in one call.
  for (let i = 0; i < numbered.length; ) {
    const { sequencer } = numbered[i]!;
    const rows: (typeof all)[number][] = [];
    for (; i < numbered.length && numbered[i]!.sequencer === sequencer; i++) rows.push(...numbered[i]!.rows);
    await sequencer(trx, rows);
  }
}

export function toRecorded(row: StoredEvent): RecordedEvent {
  return {
    type: row.type,
    // An erased event folds with its residue: its shape without the erased text.
    payload: foldablePayload(row.payload),
    project_id: row.project_id,
    seq: row.seq,
    ts: row.ts,
    actor: row.actor,
    hash: row.hash,
  } as RecordedEvent;
}

export async function readEvents(db: Db | Trx, projectId: string, afterSeq = 0): Promise<StoredEvent[]> {
  return db
    .selectFrom('events')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .execute();
}

export async function findByIdempotencyKey(
  db: Db | Trx,
  projectId: string,
  key: string,
): Promise<StoredEvent | undefined> {
  return db
    .selectFrom('events')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** The hash of a project's event `seq`, or null when there is none (a signed head is checked against it). */
export async function eventHashAt(db: Db | Trx, projectId: string, seq: number): Promise<string | null> {
  const row = await db
    .selectFrom('events')
    .select('hash')
    .where('project_id', '=', projectId)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row?.hash ?? null;
}
