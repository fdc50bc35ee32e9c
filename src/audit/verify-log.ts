import { readFileSync } from 'node:fs';
import {
  appendLeaf,
  type EventLeaf,
  emptyRange,
  eventLeafHash,
  inclusionProof,
  rangeRoot,
  verifyInclusion,
} from '../merkle.ts';
import { ChainVerifier, type VerifyResult } from '../store/chain.ts';
import { fromStoredNodes, readLeafHashes, readLogState } from '../store/merkle-log.ts';
import type { Db } from '../store/store.ts';
import { allEvents } from './audit.ts';
import type { AuditDir } from './audit-dir.ts';
import { type Checkpoint, openCheckpoint } from './checkpoint.ts';
import { DecisionAuditor, type StoreVerifyResult, storedTrains, withDecisions } from './decisions.ts';
import type { NoteVerifier } from './note.ts';

/** What is wrong, in the words a reviewer needs. */
export type FindingKind =
  | 'appended'
  | 'inserted'
  | 'dropped'
  | 'truncated'
  | 'rewritten'
  | 'reordered'
  | 'head'
  | 'checkpoint';

export interface LogFinding {
  kind: FindingKind;
  message: string;
  project_id?: string;
  seq?: number;
  gseq?: number;
  file?: string;
}

export interface LogCheck {
  ok: boolean;
  /** The store's log name, as its state row says. */
  origin: string;
  /** Events in the global order (gseq), and the root recomputed from them. */
  size: number;
  root: string;
  /** The verifier key the checkpoints were checked with. */
  key: string | null;
  /** The latest checkpoint that verified. */
  checkpoint: { file: string; size: number; root: string } | null;
  checkpoints: number;
  /** Events after the latest checkpoint: not yet covered by a signature. */
  uncovered: number;
  findings: LogFinding[];
  warnings: string[];
}

const PAGE = 5000;

interface Positioned extends EventLeaf {
  gseq: number;
}
const named = (e: Positioned) => `${e.project_id}#${e.seq} (event number ${e.gseq})`;

/**
 * Check the global Merkle log against the signed checkpoints, recomputing every leaf and root from
 * the events themselves: stored nodes are only used, after they are authenticated against a signed
 * root, to name the first event that differs.
 */
export async function verifyLog(
  db: Db,
  opts: { dir: AuditDir | null; key: NoteVerifier | null },
): Promise<LogCheck> {
  const findings: LogFinding[] = [];
  const warnings: string[] = [];
  const state = await readLogState(db);
  const key = opts.key ?? opts.dir?.verifierKey() ?? null;

  // 1. The checkpoints kept outside the store, each verified with the log's key.
  const good: (Checkpoint & { file: string })[] = [];
  const files = opts.dir?.checkpoints() ?? [];
  if (files.length && !key)
    findings.push({
      kind: 'checkpoint',
      message: `${files.length} checkpoints but no verifier key to check them (audit/log.pub or --key)`,
    });
  for (const f of files) {
    if (!key) break;
    const opened = openCheckpoint(readFileSync(f.file, 'utf8'), key);
    if (!opened.ok) {
      findings.push({
        kind: 'checkpoint',
        file: f.file,
        message: `${f.file} does not verify: ${opened.reason}`,
      });
      continue;
    }
    if (opened.checkpoint.size !== f.size) {
      findings.push({
        kind: 'checkpoint',
        file: f.file,
        message: `${f.file} is named for size ${f.size} but signs size ${opened.checkpoint.size}`,
      });
      continue;
    }
    if (opened.checkpoint.origin !== state.origin) {
      findings.push({
        kind: 'checkpoint',
        file: f.file,
        message: `${f.file} is a checkpoint of log ${opened.checkpoint.origin}, but the store is log ${state.origin}: the store was replaced`,
      });
      continue;
    }
    good.push({ ...opened.checkpoint, file: f.file });
  }
  if (!files.length)
    warnings.push(
      'no signed checkpoint: the log is not anchored outside the store (run: vt audit checkpoint --init)',
    );

  // 2. Every event in the global order: leaves and roots recomputed, compared with the stored leaves.
  const wanted = new Map(good.map((c) => [c.size, c]));
  const rootAt = new Map<number, Buffer>();
  const range = emptyRange();
  const lastSeq = new Map<string, number>();
  let firstDiff: { index: number; event: Positioned; leaf: Buffer; stored: Buffer | null } | null = null;
  let nextAfterDiff: Buffer | null = null;
  if (wanted.has(0)) rootAt.set(0, rangeRoot(range));
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom('events')
      .select(['project_id', 'seq', 'hash', 'gseq'])
      .where('gseq', '>', after)
      .orderBy('gseq')
      .limit(PAGE)
      .execute();
    if (!rows.length) break;
    const stored = await readLeafHashes(db, range.size, rows.length);
    for (const e of rows) {
      const index = range.size;
      if (e.gseq !== index + 1 && !findings.some((f) => f.kind === 'dropped'))
        findings.push({
          kind: 'dropped',
          gseq: index + 1,
          message: `event number ${index + 1} is missing from the log order (the next is ${named(e)}): an event was dropped`,
        });
      const prev = lastSeq.get(e.project_id) ?? 0;
      if (e.seq <= prev && !findings.some((f) => f.kind === 'reordered'))
        findings.push({
          kind: 'reordered',
          project_id: e.project_id,
          seq: e.seq,
          gseq: e.gseq,
          message: `${named(e)} comes after ${e.project_id}#${prev} in the log order: events were reordered`,
        });
      lastSeq.set(e.project_id, Math.max(prev, e.seq));
      const leaf = eventLeafHash(e);
      if (firstDiff && firstDiff.index + 1 === index) nextAfterDiff = leaf;
      const kept: Buffer | null = stored.get(index) ?? null;
      if (!firstDiff && !kept?.equals(leaf)) firstDiff = { index, event: e, leaf, stored: kept };
      appendLeaf(range, leaf);
      if (wanted.has(range.size)) rootAt.set(range.size, rangeRoot(range));
    }
    after = rows[rows.length - 1]!.gseq;
    // A turn of the event loop between pages lets the garbage collector keep the heap flat.
    await new Promise((r) => setImmediate(r));
  }
  const size = range.size;
  const root = rangeRoot(range);
  const outside = await db
    .selectFrom('events')
    .select(['project_id', 'seq'])
    .where('gseq', 'is', null)
    .limit(5)
    .execute();
  for (const e of outside)
    findings.push({
      kind: 'appended',
      project_id: e.project_id,
      seq: e.seq,
      message: `${e.project_id}#${e.seq} has no place in the log order: it was appended outside vt`,
    });

  // 3. The checkpoints against the recomputed roots: the first one that disagrees is named.
  for (const c of good) {
    if (c.size > size) {
      findings.push({
        kind: 'truncated',
        file: c.file,
        message: `the log holds ${size} events but ${c.file} was signed at ${c.size}: the last ${c.size - size} were dropped (truncated or rolled back)`,
      });
      break;
    }
    if (rootAt.get(c.size)!.equals(c.root)) continue;
    findings.push(await locate(db, c, firstDiff, nextAfterDiff));
    break;
  }

  // 4. The sequencer's own record against the events: what happened after the latest checkpoint.
  const latest = good.at(-1) ?? null;
  if (size > state.range.size) {
    const first = await db
      .selectFrom('events')
      .select(['project_id', 'seq', 'hash', 'gseq'])
      .where('gseq', '>', state.range.size)
      .orderBy('gseq')
      .limit(1)
      .executeTakeFirst();
    findings.push({
      kind: 'appended',
      ...(first ? { project_id: first.project_id, seq: first.seq, gseq: first.gseq } : {}),
      message: `${size - state.range.size} events are not in the log the sequencer kept (size ${state.range.size})${first ? `, the first ${named(first)}` : ''}: appended outside vt`,
    });
  } else if (
    size < state.range.size &&
    !findings.some((f) => f.kind === 'truncated' || f.kind === 'dropped')
  ) {
    findings.push({
      kind: 'dropped',
      message: `the sequencer logged ${state.range.size} events but the store holds ${size}: events were deleted`,
    });
  } else if (firstDiff && firstDiff.index >= (latest?.size ?? 0) && firstDiff.stored) {
    findings.push({
      kind: 'rewritten',
      project_id: firstDiff.event.project_id,
      seq: firstDiff.event.seq,
      gseq: firstDiff.event.gseq,
      message: `${named(firstDiff.event)} is not the event the sequencer logged when it was appended: rewritten (after the latest checkpoint, so no signature covers it)`,
    });
  }

  // The state row the sequencer extends (and checkpoints are signed from) must give the same root.
  if (!findings.length && size === state.range.size && !root.equals(state.root))
    findings.push({
      kind: 'rewritten',
      message: `the log's state row (size ${size}) gives root ${state.root.toString('base64')}, but its events give ${root.toString('base64')}: the state row was rewritten`,
    });

  const uncovered = latest ? Math.max(0, size - latest.size) : size;
  if (latest && uncovered)
    warnings.push(
      `${uncovered} events after the latest checkpoint (size ${latest.size}) are not yet covered by a signature`,
    );
  return {
    ok: findings.length === 0,
    origin: state.origin,
    size,
    root: root.toString('base64'),
    key: key?.vkey ?? null,
    checkpoint: latest
      ? { file: latest.file, size: latest.size, root: latest.root.toString('base64') }
      : null,
    checkpoints: good.length,
    uncovered,
    findings,
    warnings,
  };
}

/**
 * Name what changed under a checkpoint whose root the events no longer give. The stored leaves are
 * trusted only after an inclusion proof from the stored nodes verifies against the signed root.
 */
async function locate(
  db: Db,
  c: Checkpoint & { file: string },
  diff: { index: number; event: Positioned; leaf: Buffer; stored: Buffer | null } | null,
  nextLeaf: Buffer | null,
): Promise<LogFinding> {
  const generic: LogFinding = {
    kind: 'rewritten',
    file: c.file,
    message: `the events do not give the root signed in ${c.file} (size ${c.size}): an event among the first ${c.size} was inserted, dropped or rewritten, and the store's Merkle nodes were rewritten too, so it cannot be named`,
  };
  if (!diff?.stored || diff.index >= c.size) return generic;
  let authentic = false;
  try {
    const proof = await fromStoredNodes(db, (read) => inclusionProof(read, diff.index, c.size));
    authentic = verifyInclusion(diff.index, c.size, diff.stored, proof, c.root).ok;
  } catch {}
  if (!authentic) return generic;
  const e = diff.event;
  const at = { project_id: e.project_id, seq: e.seq, gseq: e.gseq, file: c.file };
  if (nextLeaf?.equals(diff.stored))
    return {
      kind: 'inserted',
      ...at,
      message: `${named(e)} was inserted: ${c.file} signed the next event at its place`,
    };
  const storedNext = (await readLeafHashes(db, diff.index + 1, 1)).get(diff.index + 1);
  if (storedNext?.equals(diff.leaf))
    return {
      kind: 'dropped',
      ...at,
      message: `the event before ${named(e)} was dropped: ${c.file} signed another event at number ${e.gseq}`,
    };
  return {
    kind: 'rewritten',
    ...at,
    message: `${named(e)} is not the event ${c.file} signed at its place: rewritten`,
  };
}

/** Projections whose recorded head disagrees with the chain they summarise (chains that verified only). */
export async function headFindings(db: Db, chain: VerifyResult, project?: string): Promise<LogFinding[]> {
  const out: LogFinding[] = [];
  let q = db.selectFrom('projects').select(['id', 'head_seq', 'head_hash']);
  if (project) q = q.where('id', '=', project);
  for (const r of await q.orderBy('id').execute()) {
    if (chain.firstBad?.project_id === r.id) continue;
    const h = chain.heads[r.id];
    if (h && h.seq === r.head_seq && h.hash === r.head_hash) continue;
    out.push({
      kind: 'head',
      project_id: r.id,
      seq: r.head_seq,
      message: h
        ? `the projects row of ${r.id} says its head is #${r.head_seq} (${r.head_hash.slice(0, 12)}), but its chain ends at #${h.seq} (${h.hash.slice(0, 12)})`
        : `the projects row of ${r.id} says its head is #${r.head_seq}, but it has no events`,
    });
  }
  return out;
}

export type TrailResult = StoreVerifyResult & {
  log: LogCheck;
  /** Every finding: chain heads and the log. */
  findings: LogFinding[];
};

/**
 * `vt audit verify`: the chains, every person's decision's signature, the projections' heads and the
 * Merkle log against its checkpoints.
 */
export async function verifyTrail(
  db: Db,
  opts: { dir: AuditDir | null; key: NoteVerifier | null; project?: string | undefined },
): Promise<TrailResult> {
  // Events stream through the chain and decision checks: memory holds a page, one head per project
  // and one project's folded state.
  const v = new ChainVerifier();
  const decisions = new DecisionAuditor(await storedTrains(db));
  for await (const e of allEvents(db, opts.project)) {
    const ok = v.push(e);
    decisions.push(e);
    if (!ok) break;
  }
  const chain = withDecisions(v.finish(), decisions.finish());
  const heads = await headFindings(db, chain, opts.project);
  const log = await verifyLog(db, opts);
  const findings = [...heads, ...log.findings];
  const first = heads[0];
  const firstBad =
    chain.firstBad ??
    (first ? { project_id: first.project_id!, seq: first.seq!, reason: first.message } : null);
  return { ...chain, ok: chain.ok && findings.length === 0, firstBad, log, findings };
}
