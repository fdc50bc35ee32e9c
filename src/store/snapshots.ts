import { readFileSync } from 'node:fs';
import { sha256 } from '../canonical.ts';
import type { RecordedEvent } from '../engine/events.ts';
import { toRecorded } from './append.ts';
import { dbNow } from './dialect.ts';
import type { Db, Trx } from './store.ts';

/** A snapshot is written once this many events have been appended since the last one. */
export const SNAPSHOT_EVERY = 500;
/** Events read per page while folding a tail, so memory stays flat however long it is. */
const PAGE = 1000;

/**
 * The shape of a stored state: the digest of the code that folds events into it
 * (src/engine/state.ts). Any change to that code, to the state's fields or to how an event folds,
 * makes older snapshots unusable, and they are ignored (and replaced on the next write).
 * Bump SHAPE_EPOCH to discard every snapshot on purpose.
 */
const SHAPE_EPOCH = 1;
/**
 * The built package has no sources to read: scripts/build.ts puts the digest of src/engine/state.ts
 * here as it was built, so a package and the checkout it was built from agree on the shape, and a
 * package built from a different state.ts does not.
 */
declare const VT_STATE_SOURCE_SHA256: string | undefined;
let shapeCache: string | null = null;
export function stateShape(): string {
  if (shapeCache === null) {
    const digest = typeof VT_STATE_SOURCE_SHA256 === 'string' ? VT_STATE_SOURCE_SHA256 : stateSourceDigest();
    shapeCache = `${SHAPE_EPOCH}:${digest.slice(0, 16)}`;
  }
  return shapeCache;
}

/** sha256 of src/engine/state.ts, the code that folds events into a state. */
export function stateSourceDigest(): string {
  return sha256(readFileSync(new URL('../engine/state.ts', import.meta.url), 'utf8'));
}

interface Foldable {
  seq: number;
  headHash: string;
}

/** What foldTail returns when the events after a state erase part of what it was folded from. */
const ERASED_SINCE = Symbol('erased since');

/** The seq of the snapshot each loaded state object is known to have on disk. */
const snapshotSeq = new WeakMap<object, number>();

/**
 * A project's state: the cached one when it is current, else the latest snapshot plus the events
 * after it (or the whole history when there is no usable snapshot), folded page by page.
 * With `write` (inside a write transaction) a new snapshot is stored when the state has moved
 * SNAPSHOT_EVERY events past the last one. Returns undefined for an unknown project.
 */
export async function loadState<S extends Foldable>(
  db: Db | Trx,
  projectId: string,
  cached: S | undefined,
  fold: (s: S | undefined, e: RecordedEvent) => S,
  opts: { write: boolean },
): Promise<S | undefined> {
  let folded: S | undefined | typeof ERASED_SINCE = cached;
  if (cached) {
    // The projection's head moves in the same transaction as the events: a cheap freshness check.
    const head = await db
      .selectFrom('projects')
      .select('head_seq')
      .where('id', '=', projectId)
      .executeTakeFirst();
    if (!head || head.head_seq !== cached.seq) folded = await foldTail(db, projectId, cached, fold);
  } else {
    const snap = await fromSnapshot<S>(db, projectId);
    if (snap) snapshotSeq.set(snap, snap.seq);
    folded = await foldTail(db, projectId, snap, fold);
  }
  // An erasure since that state: it was folded from text that is gone. Fold the events afresh.
  if (folded === ERASED_SINCE) folded = await foldTail(db, projectId, undefined, fold);
  const s = folded === ERASED_SINCE ? undefined : folded;
  if (s && !snapshotSeq.has(s)) snapshotSeq.set(s, 0);
  if (s && opts.write && s.seq - (snapshotSeq.get(s) ?? 0) >= SNAPSHOT_EVERY) {
    await writeSnapshot(db as Trx, projectId, s);
    snapshotSeq.set(s, s.seq);
  }
  return s;
}

async function foldTail<S extends Foldable>(
  db: Db | Trx,
  projectId: string,
  from: S | undefined,
  fold: (s: S | undefined, e: RecordedEvent) => S,
): Promise<S | undefined | typeof ERASED_SINCE> {
  let s = from;
  let after = s?.seq ?? 0;
  for (;;) {
    const rows = await db
      .selectFrom('events')
      .selectAll()
      .where('project_id', '=', projectId)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      if (from && row.type === 'event.erased') return ERASED_SINCE;
      s = fold(s, toRecorded(row));
    }
    if (rows.length < PAGE) return s;
    after = rows[rows.length - 1]!.seq;
  }
}

/** The stored snapshot, if it has the current shape and agrees with the chain at its seq. */
async function fromSnapshot<S extends Foldable>(db: Db | Trx, projectId: string): Promise<S | undefined> {
  const snap = await db
    .selectFrom('snapshots')
    .select(['seq', 'head_hash', 'state'])
    .where('project_id', '=', projectId)
    .where('shape', '=', stateShape())
    .executeTakeFirst();
  if (!snap) return undefined;
  const at = await db
    .selectFrom('events')
    .select('hash')
    .where('project_id', '=', projectId)
    .where('seq', '=', snap.seq)
    .executeTakeFirst();
  if (!at || at.hash !== snap.head_hash) return undefined;
  const s = JSON.parse(snap.state) as S;
  return s.seq === snap.seq && s.headHash === snap.head_hash ? s : undefined;
}

async function writeSnapshot(trx: Trx, projectId: string, s: Foldable): Promise<void> {
  const row = {
    seq: s.seq,
    head_hash: s.headHash,
    shape: stateShape(),
    state: JSON.stringify(s),
    created_at: await dbNow(trx),
  };
  await trx
    .insertInto('snapshots')
    .values({ project_id: projectId, ...row })
    .onConflict((oc) => oc.column('project_id').doUpdateSet(row))
    .execute();
}
