import { VtError } from '../errors.ts';
import {
  consistencyProof,
  type EventLeaf,
  eventLeafHash,
  inclusionProof,
  subtreeHash,
  type Verdict,
  verifyConsistency,
  verifyInclusion,
} from '../merkle.ts';
import { fromStoredNodes, readLogState } from '../store/merkle-log.ts';
import type { Db } from '../store/store.ts';
import type { AuditDir } from './audit-dir.ts';
import { checkAdvance, openCheckpoint } from './checkpoint.ts';
import { coveringCheckpoint, type KeptCheckpoint, type LogStore } from './checkpoint-writer.ts';
import type { NoteSigner, NoteVerifier } from './note.ts';

/**
 * Proofs a reviewer checks offline with the log's public key: an event's inclusion in a signed
 * checkpoint, consistency between two sizes of the log, and a witness's check of a checkpoint
 * someone else kept.
 */

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');
const unb64 = (xs: readonly string[]) => xs.map((x) => Buffer.from(x, 'base64'));

/** An event's inclusion in a signed checkpoint: all a reviewer needs besides the public key. */
export interface InclusionDoc {
  format: 'vt-inclusion-proof';
  version: 1;
  checkpoint: string;
  event: EventLeaf & { gseq: number };
  leaf_index: number;
  tree_size: number;
  proof: string[];
}

/**
 * Prove an event's inclusion in the latest checkpoint; with the log key here, a checkpoint is
 * signed first when none covers the event yet.
 */
export async function proveEvent(
  store: LogStore,
  dir: AuditDir,
  signer: NoteSigner | null,
  project: string,
  seq: number,
): Promise<{ doc: InclusionDoc; kept: KeptCheckpoint }> {
  const e = await store.db
    .selectFrom('events')
    .select(['project_id', 'seq', 'hash', 'gseq'])
    .where('project_id', '=', project)
    .where('seq', '=', seq)
    .executeTakeFirst();
  if (!e)
    throw new VtError('NOT_FOUND', `no event ${project}#${seq}`, { hint: `See: vt audit log ${project}` });
  const kept = await coveringCheckpoint(store, dir, { signer, key: null, minSize: e.gseq });
  return { doc: await proveInclusion(store.db, kept, e), kept };
}

export async function proveInclusion(
  db: Db,
  kept: KeptCheckpoint,
  e: EventLeaf & { gseq: number },
): Promise<InclusionDoc> {
  const { project_id: project, seq } = e;
  const cp = kept.checkpoint;
  if (e.gseq > cp.size)
    throw new VtError(
      'NOT_FOUND',
      `${project}#${seq} (event number ${e.gseq}) is after the latest checkpoint (size ${cp.size})`,
      {
        hint: 'Write one first: vt audit checkpoint',
      },
    );
  const proof = await fromStoredNodes(db, (read) => inclusionProof(read, e.gseq - 1, cp.size));
  const v = verifyInclusion(e.gseq - 1, cp.size, eventLeafHash(e), proof, cp.root);
  if (!v.ok)
    throw new VtError(
      'VERIFY_FAILED',
      `the store cannot prove ${project}#${seq} in ${kept.file}: ${v.reason}`,
      {
        hint: 'Run: vt audit verify',
      },
    );
  return {
    format: 'vt-inclusion-proof',
    version: 1,
    checkpoint: kept.note,
    event: { project_id: e.project_id, seq: e.seq, hash: e.hash, gseq: e.gseq },
    leaf_index: e.gseq - 1,
    tree_size: cp.size,
    proof: proof.map(b64),
  };
}

/** Consistency between two sizes of the log, with the signed checkpoints of those sizes when kept. */
export interface ConsistencyDoc {
  format: 'vt-consistency-proof';
  version: 1;
  origin: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[];
  checkpoint1: string | null;
  checkpoint2: string | null;
}

export async function proveConsistency(
  db: Db,
  size1: number,
  size2: number,
  kept: { dir: AuditDir; key: NoteVerifier } | null,
): Promise<ConsistencyDoc> {
  const state = await readLogState(db);
  if (!(size1 >= 1 && size1 <= size2))
    throw new VtError('BAD_INPUT', `sizes must satisfy 1 <= M <= N (got ${size1} and ${size2})`);
  if (size2 > state.range.size)
    throw new VtError(
      'BAD_INPUT',
      `the log holds ${state.range.size} events; there is no tree of size ${size2}`,
    );
  const [root1, root2, proof] = await fromStoredNodes(
    db,
    async (read) =>
      [
        await subtreeHash(read, 0, size1),
        await subtreeHash(read, 0, size2),
        await consistencyProof(read, size1, size2),
      ] as const,
  );
  const v = verifyConsistency(size1, size2, proof, root1, root2);
  if (!v.ok) throw new VtError('VERIFY_FAILED', `the store cannot prove consistency: ${v.reason}`);
  const signed = (size: number, root: Buffer): string | null => {
    if (!kept) return null;
    const file = kept.dir.checkpoints().find((c) => c.size === size);
    if (!file) return null;
    const opened = openCheckpoint(kept.dir.read(file.file), kept.key, state.origin);
    if (!opened.ok) throw new VtError('VERIFY_FAILED', `${file.file} does not verify: ${opened.reason}`);
    if (!opened.checkpoint.root.equals(root))
      throw new VtError(
        'VERIFY_FAILED',
        `the log's tree of size ${size} is not the one ${file.file} signed: the log was rewritten`,
        { hint: 'Run: vt audit verify' },
      );
    return opened.note;
  };
  return {
    format: 'vt-consistency-proof',
    version: 1,
    origin: state.origin,
    size1,
    size2,
    root1: b64(root1),
    root2: b64(root2),
    proof: proof.map(b64),
    checkpoint1: signed(size1, root1),
    checkpoint2: signed(size2, root2),
  };
}

/** Check a proof document offline with the log's public key. */
export function verifyProofDoc(doc: unknown, key: NoteVerifier): Verdict & { summary: string } {
  const d = doc as Partial<InclusionDoc> & Partial<ConsistencyDoc> & { format?: string };
  const fail = (reason: string) => ({ ok: false as const, reason, summary: reason });
  if (d?.format === 'vt-inclusion-proof') {
    const opened = openCheckpoint(d.checkpoint ?? '', key);
    if (!opened.ok) return fail(`the checkpoint does not verify: ${opened.reason}`);
    const cp = opened.checkpoint;
    if (d.tree_size !== cp.size)
      return fail(`the proof is for size ${d.tree_size}, the checkpoint signs ${cp.size}`);
    const e = d.event;
    if (!e || typeof e.project_id !== 'string' || typeof e.hash !== 'string')
      return fail('the proof names no event');
    const v = verifyInclusion(d.leaf_index ?? -1, cp.size, eventLeafHash(e), unb64(d.proof ?? []), cp.root);
    if (!v.ok) return fail(`${e.project_id}#${e.seq} is not in the signed log: ${v.reason}`);
    return {
      ok: true,
      summary: `${e.project_id}#${e.seq} (hash ${e.hash.slice(0, 12)}) is leaf ${d.leaf_index} of ${cp.origin} at size ${cp.size}, signed by ${key.name}`,
    };
  }
  if (d?.format === 'vt-consistency-proof') {
    const roots: Buffer[] = [Buffer.from(d.root1 ?? '', 'base64'), Buffer.from(d.root2 ?? '', 'base64')];
    const notes = [d.checkpoint1, d.checkpoint2];
    let signed = 0;
    for (const [i, note] of notes.entries()) {
      if (!note) continue;
      const opened = openCheckpoint(note, key, d.origin);
      if (!opened.ok) return fail(`checkpoint ${i + 1} does not verify: ${opened.reason}`);
      const size = i === 0 ? d.size1 : d.size2;
      if (opened.checkpoint.size !== size || !opened.checkpoint.root.equals(roots[i]!))
        return fail(`checkpoint ${i + 1} signs another tree than the proof's`);
      signed++;
    }
    const v = verifyConsistency(d.size1 ?? 0, d.size2 ?? 0, unb64(d.proof ?? []), roots[0]!, roots[1]!);
    if (!v.ok) return fail(`the trees of size ${d.size1} and ${d.size2} are not consistent: ${v.reason}`);
    return {
      ok: true,
      summary: `the tree of size ${d.size2} extends the tree of size ${d.size1} (${signed} of 2 roots signed by ${key.name})`,
    };
  }
  return fail('not a vt proof document (vt-inclusion-proof or vt-consistency-proof)');
}

export type WitnessVerdict = 'consistent' | 'wrong-key' | 'other-log' | 'ahead' | 'fork' | 'inconsistent';

export interface WitnessResult {
  ok: boolean;
  verdict: WitnessVerdict;
  message: string;
  theirs: { origin: string; size: number; root: string } | null;
  ours: { origin: string; size: number; root: string };
  proof: string[];
}

/**
 * A checkpoint someone else kept, checked against this log: signed by the log's key, of this log,
 * no larger than the log now, and the log's tree extends it (a consistency proof verifies).
 */
export async function witnessCheckpoint(
  store: LogStore,
  note: string,
  key: NoteVerifier,
): Promise<WitnessResult> {
  const opened = openCheckpoint(note, key);
  const c = opened.ok ? opened.checkpoint : null;
  const state = await readLogState(store.db);
  const proof =
    c && c.origin === state.origin && c.size > 0 && c.size < state.range.size
      ? await fromStoredNodes(store.db, (read) => consistencyProof(read, c.size, state.range.size))
      : [];
  const ours = { origin: state.origin, size: state.range.size, root: b64(state.root) };
  if (!opened.ok || !c)
    return {
      ok: false,
      verdict: 'wrong-key',
      message: `not signed by this log's key ${key.name}+${key.keyId.toString(16).padStart(8, '0')}: ${opened.ok ? '' : opened.reason}`,
      theirs: null,
      ours,
      proof: [],
    };
  const theirs = { origin: c.origin, size: c.size, root: b64(c.root) };
  const result = (verdict: WitnessVerdict, message: string, proof: Buffer[] = []): WitnessResult => ({
    ok: verdict === 'consistent',
    verdict,
    message,
    theirs,
    ours,
    proof: proof.map(b64),
  });
  if (c.origin !== state.origin)
    return result('other-log', `a checkpoint of log ${c.origin}, but this store is log ${state.origin}`);
  if (c.size > state.range.size)
    return result(
      'ahead',
      `the log holds ${state.range.size} events but signed a checkpoint at ${c.size}: events were dropped or the store was rolled back`,
    );
  const v = checkAdvance(c, { origin: state.origin, size: state.range.size, root: state.root }, proof);
  if (!v.ok)
    return result(
      c.size === state.range.size ? 'fork' : 'inconsistent',
      `${v.reason}: the log was rewritten after this checkpoint was signed`,
      proof,
    );
  return result(
    'consistent',
    `the checkpoint (size ${c.size}) is a prefix of this log (size ${state.range.size}): nothing it signed was changed`,
    proof,
  );
}
