import type Database from 'better-sqlite3';
import { appendLeaf, emptyRange, eventLeafHash, nodePosition, type TreeNode } from '../src/merkle.ts';

/**
 * Rebuild a SQLite store's Merkle tables from its (tampered) events in gseq order, as a thorough
 * attacker with the file would: the store's own log then agrees with the forgery, and only a
 * checkpoint kept outside the store can show it.
 */
export function rebuildLogTables(db: Database.Database): void {
  const rows = db.prepare('select project_id, seq, hash from events order by gseq').all() as {
    project_id: string;
    seq: number;
    hash: string;
  }[];
  const range = emptyRange();
  const nodes: TreeNode[] = rows.flatMap((r) => appendLeaf(range, eventLeafHash(r)));
  db.exec('delete from merkle_nodes');
  const ins = db.prepare('insert into merkle_nodes (pos, level, idx, hash) values (?, ?, ?, ?)');
  for (const n of nodes) ins.run(nodePosition(n.level, n.index), n.level, n.index, n.hash);
}
