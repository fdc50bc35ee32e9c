import { appendLeaf, emptyRange, eventLeafHash, nodePosition, type TreeNode } from '../src/merkle.ts';
import type { RawStore } from './pg.ts';

/**
 * Rebuild a store's Merkle tables from its (tampered) events in gseq order, as a thorough attacker
 * who owns the database would: the store's own log then agrees with the forgery, and only a
 * checkpoint kept outside the store can show it.
 */
export async function rebuildLogTables(db: RawStore): Promise<void> {
  const rows = (await db.all('select project_id, seq, hash from events order by gseq')) as {
    project_id: string;
    seq: number;
    hash: string;
  }[];
  const range = emptyRange();
  const nodes: TreeNode[] = rows.flatMap((r) => appendLeaf(range, eventLeafHash(r)));
  await db.run('delete from merkle_nodes');
  for (const n of nodes)
    await db.run(
      'insert into merkle_nodes (pos, level, idx, hash) values (?, ?, ?, ?)',
      nodePosition(n.level, n.index),
      n.level,
      n.index,
      n.hash,
    );
}
