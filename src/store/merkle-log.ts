import { randomBytes } from 'node:crypto';
import {
  appendLeaf,
  type CompactRange,
  eventLeafHash,
  type NodeId,
  type NodeReader,
  nodeKey,
  rangeRoot,
  type TreeNode,
  withNodes,
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
 * The range each open transaction left the log at. A group commit runs many appends in one
 * transaction: the later ones skip reading the state row. An entry is used only while its size is
 * where the events now end, so a rolled-back savepoint (whose events are gone) forces a read.
 */
const rangeInTransaction = new WeakMap<Trx, CompactRange>();

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
  const first = events[0]!.gseq;
  let range = rangeInTransaction.get(trx);
  if (range?.size !== first - 1) {
    const row = await trx
      .selectFrom('merkle_log')
      .select(['size', 'compact_range'])
      .where('id', '=', 1)
      .forUpdate()
      .executeTakeFirst();
    if (!row)
      throw new VtError('STORE_ERROR', 'the store has no Merkle log state (migration 010 did not run)');
    if (first !== row.size + 1)
      throw new VtError(
        'STORE_ERROR',
        `the Merkle log holds ${row.size} events but the next event is number ${first}: events were added outside vt`,
        { hint: 'Run: vt audit verify' },
      );
    range = decodeRange(row.size, row.compact_range);
  }
  rangeInTransaction.delete(trx);
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
  rangeInTransaction.set(trx, range);
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

/** Stored nodes by id, in one query per 200; a missing node is a store error. */
export async function readNodes(db: Db | Trx, ids: readonly NodeId[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < ids.length; i += 200) {
    const chunk = ids.slice(i, i + 200);
    const rows = await db
      .selectFrom('merkle_nodes')
      .select(['level', 'idx', 'hash'])
      .where((eb) => eb.or(chunk.map((n) => eb.and([eb('level', '=', n.level), eb('idx', '=', n.index)]))))
      .execute();
    for (const r of rows) out.set(nodeKey(r.level, r.idx), Buffer.from(r.hash, 'hex'));
  }
  for (const n of ids)
    if (!out.has(nodeKey(n.level, n.index)))
      throw new VtError('STORE_ERROR', `the Merkle log lacks node ${n.level}/${n.index}`, {
        hint: 'Run: vt audit verify',
      });
  return out;
}

/** Build a proof (or a subtree hash) from the stored nodes, fetched in one query. */
export function fromStoredNodes<T>(db: Db | Trx, build: (read: NodeReader) => Promise<T>): Promise<T> {
  return withNodes((ids) => readNodes(db, ids), build);
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
