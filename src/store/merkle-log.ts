import { randomBytes } from 'node:crypto';
import {
  appendLeaf,
  type CompactRange,
  eventLeafHash,
  type NodeReader,
  rangeRoot,
  type TreeNode,
} from '../audit/merkle.ts';
import { VtError } from '../errors.ts';
import type { Db, Trx } from './store.ts';

/**
 * The store's side of the global Merkle log: one row holds its size and compact range, a table
 * holds every perfect subtree. The sequencer (`appendToLog`) runs in the append transaction, so
 * the log moves with the events or not at all, at a couple of hashes per event.
 */

export interface LogState {
  origin: string;
  range: CompactRange;
}

export const newOrigin = () => `vt.log/${randomBytes(8).toString('hex')}`;

export const encodeRange = (r: CompactRange) => JSON.stringify(r.hashes.map((h) => h.toString('hex')));

export function decodeRange(size: number, text: string): CompactRange {
  const hashes = (JSON.parse(text) as string[]).map((h) => Buffer.from(h, 'hex'));
  return { size, hashes };
}

/** Nodes as rows; chunked so a large append stays under any bound-parameter limit. */
export async function insertNodes(trx: Trx | Db, nodes: readonly TreeNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += 500) {
    await trx
      .insertInto('merkle_nodes')
      .values(
        nodes.slice(i, i + 500).map((n) => ({ level: n.level, idx: n.index, hash: n.hash.toString('hex') })),
      )
      .execute();
  }
}

/**
 * Append events (with their gseq) to the log, inside the append transaction. The state row is read
 * FOR UPDATE (a row lock on PostgreSQL; SQLite's immediate transaction holds the write lock): one
 * sequencer at a time. Refuses leaves that do not follow the log's end.
 */
export async function appendToLog(
  trx: Trx,
  events: readonly { gseq: number; project_id: string; seq: number; hash: string }[],
): Promise<void> {
  if (!events.length) return;
  const row = await trx
    .selectFrom('merkle_log')
    .select(['size', 'compact_range'])
    .where('id', '=', 1)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw new VtError('STORE_ERROR', 'the store has no Merkle log state (migration 010 did not run)');
  const first = events[0]!.gseq;
  if (first !== row.size + 1)
    throw new VtError(
      'STORE_ERROR',
      `the Merkle log holds ${row.size} events but the next event is number ${first}: events were added outside vt`,
      { hint: 'Run: vt audit verify' },
    );
  const range = decodeRange(row.size, row.compact_range);
  const nodes: TreeNode[] = [];
  for (const e of events) {
    if (e.gseq !== range.size + 1) throw new VtError('STORE_ERROR', `event number ${e.gseq} is out of order`);
    nodes.push(...appendLeaf(range, eventLeafHash(e)));
  }
  await insertNodes(trx, nodes);
  await trx
    .updateTable('merkle_log')
    .set({ size: range.size, compact_range: encodeRange(range) })
    .where('id', '=', 1)
    .execute();
}

/** The log's origin, size and compact range as the store holds them. */
export async function readLogState(db: Db | Trx): Promise<LogState & { root: Buffer }> {
  const row = await db
    .selectFrom('merkle_log')
    .select(['origin', 'size', 'compact_range'])
    .where('id', '=', 1)
    .executeTakeFirst();
  if (!row) throw new VtError('STORE_ERROR', 'the store has no Merkle log state (migration 010 did not run)');
  const range = decodeRange(row.size, row.compact_range);
  return { origin: row.origin, range, root: rangeRoot(range) };
}

/** Reads stored nodes one at a time (proofs need a few dozen); a missing node is a store error. */
export function nodeReader(db: Db | Trx): NodeReader {
  const cache = new Map<string, Buffer>();
  return async (level, index) => {
    const key = `${level}/${index}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const row = await db
      .selectFrom('merkle_nodes')
      .select('hash')
      .where('level', '=', level)
      .where('idx', '=', index)
      .executeTakeFirst();
    if (!row) throw new VtError('STORE_ERROR', `the Merkle log lacks node ${level}/${index}`);
    const h = Buffer.from(row.hash, 'hex');
    cache.set(key, h);
    return h;
  };
}

/** Stored leaf hashes from index `from` (0-based), in order, at most `limit`. */
export async function readLeafHashes(
  db: Db | Trx,
  from: number,
  limit: number,
): Promise<Map<number, Buffer>> {
  const rows = await db
    .selectFrom('merkle_nodes')
    .select(['idx', 'hash'])
    .where('level', '=', 0)
    .where('idx', '>=', from)
    .orderBy('idx')
    .limit(limit)
    .execute();
  return new Map(rows.map((r) => [r.idx, Buffer.from(r.hash, 'hex')]));
}
