import { randomBytes } from 'node:crypto';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { type RawBuilder, sql } from 'kysely';
import { VtError } from '../errors.ts';
import {
  appendLeaf,
  type CompactRange,
  emptyRange,
  eventLeafHash,
  type NodeId,
  type NodeReader,
  nodeKey,
  nodePosition,
  rangeRoot,
  type TreeNode,
  withNodes,
} from '../merkle.ts';
import type { Db, Trx } from './store.ts';

/**
 * The store's side of the global Merkle log: a table holds every perfect subtree, keyed by the
 * order they were completed in, and one row names the log (its origin). The log's size and compact
 * range are read back from the stored subtrees (the last one completed gives the size; the range is
 * one subtree per set bit of it), so an append only adds rows at the end of one index. The
 * sequencer (`appendToLog`) runs in the append transaction, so the log moves with the events or
 * not at all, at a couple of hashes per event.
 */

export interface LogState {
  origin: string;
  range: CompactRange;
}

export const newOrigin = () => `vt.log/${randomBytes(8).toString('hex')}`;

/** The range's hashes, concatenated (32 bytes each, largest subtree first). */
export const encodeRange = (r: CompactRange): Buffer => Buffer.concat(r.hashes);

/**
 * Nodes as rows; chunked so a large append stays under any bound-parameter limit. The insert is a
 * Kysely `sql` template (portable: each dialect writes its own placeholders), a fraction of the
 * query builder's cost on a path every append takes.
 */
export async function insertNodes(trx: Trx | Db, nodes: readonly TreeNode[]): Promise<void> {
  for (let i = 0; i < nodes.length; i += 500)
    await nodeInsert(
      nodes.slice(i, i + 500).map((n) => [nodePosition(n.level, n.index), n.level, n.index, n.hash]),
    ).execute(trx);
}

function nodeInsert(rows: readonly (readonly [number, number, number, Buffer])[]): RawBuilder<unknown> {
  const values = rows.map(([pos, level, idx, hash]) => sql`(${pos}, ${level}, ${idx}, ${hash})`);
  return sql`insert into merkle_nodes (pos, level, idx, hash) values ${sql.join(values)}`;
}

type Leaf = { gseq: number; project_id: string; seq: number; hash: string };

/**
 * The sequencer: take appended events (with their gseq) into the log, inside the append
 * transaction. The state row is locked first, so one sequencer runs at a time; the events must
 * follow the log's end, else they (or others) were added outside vt and the append is refused.
 */
export async function appendToLog(trx: Trx, events: readonly Leaf[]): Promise<void> {
  if (events.length) await insertNodes(trx, extendRange(await lockState(trx), events));
}

/**
 * The log's state, with its row locked FOR UPDATE first (a row lock on PostgreSQL, held to the
 * commit; SQLite's immediate transaction holds the write lock), so one sequencer runs at a time.
 */
async function lockState(trx: Trx): Promise<CompactRange> {
  const row = await trx
    .selectFrom('merkle_log')
    .select('id')
    .where('id', '=', 1)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw new VtError('STORE_ERROR', 'the store has no Merkle log state (migration 010 did not run)');
  return storedRange(trx);
}

/** The perfect subtrees that make up a log of `size` leaves, one per set bit, largest first. */
function rangeNodeIds(size: number): NodeId[] {
  const ids: NodeId[] = [];
  for (let level = 52; level >= 0; level--) {
    const above = Math.floor(size / 2 ** level);
    if (above % 2 === 1) ids.push({ level, index: above - 1 });
  }
  return ids;
}

/** The size of the log whose last completed subtree is (level, index): it ends at that subtree. */
const sizeAfter = (level: number, index: number): number => (index + 1) * 2 ** level;

/** The log's compact range, read back from the stored subtrees. */
async function storedRange(db: Db | Trx): Promise<CompactRange> {
  const last = await db
    .selectFrom('merkle_nodes')
    .select(['level', 'idx'])
    .orderBy('pos', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!last) return emptyRange();
  const size = sizeAfter(last.level, Number(last.idx));
  const ids = rangeNodeIds(size);
  const found = await readNodes(db, ids);
  return { size, hashes: ids.map((n) => found.get(nodeKey(n.level, n.index))!) };
}

/** Move `range` past `events`, returning the subtrees they complete; refuses a gap or an overlap. */
function extendRange(range: CompactRange, events: readonly Leaf[]): TreeNode[] {
  const nodes: TreeNode[] = [];
  for (const e of events) {
    if (e.gseq !== range.size + 1)
      throw new VtError(
        'STORE_ERROR',
        `the Merkle log holds ${range.size} events but the next event is number ${e.gseq}: events were added outside vt`,
        { hint: 'Run: vt audit verify' },
      );
    nodes.push(...appendLeaf(range, eventLeafHash(e)));
  }
  return nodes;
}

/**
 * The sequencer on a SQLite file, on better-sqlite3's own statements (prepared once, on first use):
 * the same steps as appendToLog, without a query builder on a path every commit takes. It runs on the
 * connection the transaction holds, so it reads and writes inside that transaction. The compact
 * range it leaves is kept once its transaction has committed (`settled`), and used again when the
 * next events follow it directly: a commit then reads no node at all. Otherwise (another process
 * appended, a transaction was lost) the range is read back from the store.
 */
export function sqliteSequencer(raw: SqliteDatabase): {
  log: (first: number) => void;
  settled: (committed: boolean) => void;
} {
  let q: ReturnType<typeof prepare> | undefined;
  const prepare = () => ({
    last: raw.prepare<[], { level: number; idx: number }>(
      'select level, idx from merkle_nodes order by pos desc limit 1',
    ),
    node: raw.prepare<[number], { hash: Buffer }>('select hash from merkle_nodes where pos = ?'),
    events: raw.prepare<[number], Leaf>(
      'select gseq, project_id, seq, hash from events where gseq >= ? order by gseq',
    ),
  });
  // A commit's nodes go in as one statement of as many rows (prepared once per row count).
  const inserts = new Map<number, Statement<unknown[]>>();
  const insert = (nodes: readonly TreeNode[]) => {
    for (let i = 0; i < nodes.length; i += 100) {
      const chunk = nodes.slice(i, i + 100);
      let st = inserts.get(chunk.length);
      if (!st) {
        st = raw.prepare(
          `insert into merkle_nodes (pos, level, idx, hash) values ${Array(chunk.length).fill('(?, ?, ?, ?)').join(', ')}`,
        );
        inserts.set(chunk.length, st);
      }
      st.run(...chunk.flatMap((n) => [nodePosition(n.level, n.index), n.level, n.index, n.hash]));
    }
  };
  /** The range after the last committed transaction this sequencer logged in, and after the open one. */
  let kept: CompactRange | null = null;
  let moved: CompactRange | null = null;
  const range = (s: NonNullable<typeof q>, first: number): CompactRange => {
    // Events that follow the kept range's end follow the log's: any other writer's events (logged
    // or not) would stand between, so this range is the stored one.
    if (kept && first === kept.size + 1) return { size: kept.size, hashes: [...kept.hashes] };
    const last = s.last.get();
    if (!last) return emptyRange();
    const size = sizeAfter(last.level, last.idx);
    const hashes = rangeNodeIds(size).map((n) => {
      const row = s.node.get(nodePosition(n.level, n.index));
      if (!row) throw lacksNode(n);
      return row.hash;
    });
    return { size, hashes };
  };
  return {
    log: (first) => {
      q ??= prepare();
      const events = q.events.all(first);
      if (!events.length) return;
      const r = range(q, first);
      insert(extendRange(r, events));
      moved = r;
    },
    settled: (committed) => {
      kept = committed ? (moved ?? kept) : null;
      moved = null;
    },
  };
}

/**
 * Name the log after another: for a store rebuilt from a bundle holding every event of that log (its
 * leaves recomputed), so the checkpoints signed for it are checked against this store.
 */
export async function adoptLogOrigin(trx: Trx, origin: string): Promise<void> {
  await trx.updateTable('merkle_log').set({ origin }).where('id', '=', 1).execute();
}

/** The log's origin, size and compact range as the store holds them. */
export async function readLogState(db: Db | Trx): Promise<LogState & { root: Buffer }> {
  const row = await db.selectFrom('merkle_log').select('origin').where('id', '=', 1).executeTakeFirst();
  if (!row) throw new VtError('STORE_ERROR', 'the store has no Merkle log state (migration 010 did not run)');
  const range = await storedRange(db);
  return { origin: row.origin, range, root: rangeRoot(range) };
}

const lacksNode = (n: NodeId) =>
  new VtError('STORE_ERROR', `the Merkle log lacks node ${n.level}/${n.index}`, {
    hint: 'Run: vt audit verify',
  });

/** Stored nodes by id, in one query per 500; a missing node is a store error. */
export async function readNodes(db: Db | Trx, ids: readonly NodeId[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await db
      .selectFrom('merkle_nodes')
      .select(['level', 'idx', 'hash'])
      .where(
        'pos',
        'in',
        chunk.map((n) => nodePosition(n.level, n.index)),
      )
      .execute();
    for (const r of rows) out.set(nodeKey(r.level, r.idx), Buffer.from(r.hash));
  }
  for (const n of ids) if (!out.has(nodeKey(n.level, n.index))) throw lacksNode(n);
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
    .where('pos', '>=', nodePosition(0, from))
    .where('pos', '<', nodePosition(0, from + limit))
    .where('level', '=', 0)
    .orderBy('pos')
    .execute();
  return new Map(rows.map((r) => [r.idx, Buffer.from(r.hash)]));
}
