import { canonicalJson, sha256 } from '../src/canonical.ts';
import { appendLeaf, emptyRange, eventLeafHash, nodePosition, type TreeNode } from '../src/merkle.ts';
import { eventHash } from '../src/store/chain.ts';
import type { RawStore } from './pg.ts';

/**
 * Append an event to a project's chain outside vt, as an attacker who owns the database would: a
 * correct chain hash, the next store-wide number (and PostgreSQL's counter moved on), the projects
 * row's head moved. The Merkle log is left as it was (see rebuildLogTables).
 */
export async function appendOutsideVt(
  db: RawStore,
  project: string,
  e: { type: string; actor: string; payload: unknown },
): Promise<{ seq: number; hash: string }> {
  const [head] = await db.all<{ head_seq: number; head_hash: string }>(
    'select head_seq, head_hash from projects where id = ?',
    project,
  );
  const [top] = await db.all<{ g: number | string }>('select max(gseq) as g from events');
  const gseq = Number(top!.g) + 1;
  const text = canonicalJson(e.payload);
  const row = {
    project_id: project,
    seq: head!.head_seq + 1,
    ts: new Date().toISOString(),
    actor: e.actor,
    type: e.type,
    payload_sha256: sha256(text),
    idempotency_key: null,
  };
  const hash = eventHash(head!.head_hash, row);
  await db.run(
    'insert into events (project_id, seq, ts, actor, type, payload, payload_sha256, prev_hash, hash, idempotency_key, gseq) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    project,
    row.seq,
    row.ts,
    row.actor,
    row.type,
    text,
    row.payload_sha256,
    head!.head_hash,
    hash,
    null,
    gseq,
  );
  await db.run('update projects set head_seq = ?, head_hash = ? where id = ?', row.seq, hash, project);
  if (db.postgres) await db.run("update counters set value = ? where name = 'gseq'", gseq);
  return { seq: row.seq, hash };
}

/**
 * Rebuild a store's Merkle tables from its (tampered) events in gseq order, as a thorough attacker
 * who owns the database would: the store's own log then agrees with the forgery, and only a
 * checkpoint kept outside the store can show it.
 */
export async function rebuildLogTables(db: RawStore): Promise<void> {
  const rows = await db.all<{ project_id: string; seq: number; hash: string }>(
    'select project_id, seq, hash from events order by gseq',
  );
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
