import { type ChainHead, type StoredEvent, type VerifyResult, verifyEvents } from '../store/chain.ts';
import type { Db } from '../store/store.ts';

const PAGE = 5000;

/** Every event of the store (or of one project; or only those up to log size `upTo`), in (project, seq) order, read page by page. */
export async function* allEvents(db: Db, projectId?: string, upTo?: number): AsyncGenerator<StoredEvent> {
  let after: [string, number] = ['', 0];
  for (;;) {
    let q = db.selectFrom('events').selectAll();
    if (projectId) q = q.where('project_id', '=', projectId);
    if (upTo !== undefined) q = q.where('gseq', '<=', upTo);
    const [p, s] = after;
    const rows = await q
      .where((eb) => eb.or([eb('project_id', '>', p), eb.and([eb('project_id', '=', p), eb('seq', '>', s)])]))
      .orderBy('project_id')
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    yield* rows;
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = [last.project_id, last.seq];
  }
}

/** Recompute every chain in the store and compare each head with the one the projections recorded. */
export async function verifyStore(db: Db, projectId?: string): Promise<VerifyResult> {
  let q = db.selectFrom('projects').select(['id', 'head_seq', 'head_hash']);
  if (projectId) q = q.where('id', '=', projectId);
  const heads: Record<string, ChainHead> = {};
  for (const r of await q.execute()) heads[r.id] = { seq: r.head_seq, hash: r.head_hash };
  const events: StoredEvent[] = [];
  for await (const e of allEvents(db, projectId)) events.push(e);
  return verifyEvents(events, heads);
}
