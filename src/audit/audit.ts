import { sql } from 'kysely';
import { type ChainHead, ChainVerifier, type StoredEvent } from '../store/chain.ts';
import type { Db } from '../store/store.ts';
import { DecisionAuditor, type StoreVerifyResult, storedTrains, withDecisions } from './decisions.ts';

const PAGE = 1000;

/**
 * Every event of the store (or of one project; or only those up to log size `upTo`), in
 * (project, seq) order, read page by page: each page starts after the last row of the one before
 * (`(project_id, seq) > (?, ?)`, a seek on the primary key), so no page rereads or skips rows and
 * memory holds one page.
 */
export async function* allEvents(db: Db, projectId?: string, upTo?: number): AsyncGenerator<StoredEvent> {
  let after: [string, number] = ['', 0];
  for (;;) {
    let q = db.selectFrom('events').selectAll();
    if (projectId) q = q.where('project_id', '=', projectId);
    if (upTo !== undefined) q = q.where('gseq', '<=', upTo);
    const [p, s] = after;
    const rows = await q
      .where(sql<boolean>`(project_id, seq) > (${p}, ${s})`)
      .orderBy('project_id')
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    yield* rows;
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = [last.project_id, last.seq];
    // Give the event loop a turn between pages: the garbage collector's tasks run there, so the
    // heap is collected as it goes instead of growing with the history (SQLite reads never yield).
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Recompute every chain in the store and compare each head with the one the projections recorded,
 * and check every person's decision's signature (src/audit/decisions.ts). Events stream through
 * both checks: memory holds a page, one head per project and one project's folded state.
 */
export async function verifyStore(db: Db, projectId?: string): Promise<StoreVerifyResult> {
  let q = db.selectFrom('projects').select(['id', 'head_seq', 'head_hash']);
  if (projectId) q = q.where('id', '=', projectId);
  const heads: Record<string, ChainHead> = {};
  for (const r of await q.execute()) heads[r.id] = { seq: r.head_seq, hash: r.head_hash };
  const v = new ChainVerifier(heads);
  const decisions = new DecisionAuditor(await storedTrains(db));
  for await (const e of allEvents(db, projectId)) {
    const ok = v.push(e);
    decisions.push(e);
    if (!ok) break;
  }
  return withDecisions(v.finish(), decisions.finish());
}
