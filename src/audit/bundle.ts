import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { canonicalJson, sha256 } from '../canonical.ts';
import { VtError } from '../errors.ts';
import {
  appendLeaf,
  consistencyProof,
  emptyRange,
  eventLeafHash,
  inclusionProof,
  rangeRoot,
  verifyInclusion,
} from '../merkle.ts';
import { type ChainHead, type StoredEvent, type VerifyResult, verifyEvents } from '../store/chain.ts';
import { fromStoredNodes } from '../store/merkle-log.ts';
import type { Db } from '../store/store.ts';
import { allEvents } from './audit.ts';
import type { AuditDir } from './audit-dir.ts';
import { type Checkpoint, checkAdvance, openCheckpoint, parseCheckpointText } from './checkpoint.ts';
import { coveringCheckpoint, type KeptCheckpoint, type LogStore } from './checkpoint-writer.ts';
import { type NoteSigner, type NoteVerifier, openNote } from './note.ts';

/**
 * Export bundles: a manifest line, then one canonical event per line. They verify with no
 * database. Version 2 adds the log: a signed checkpoint, an inclusion proof of every chain's head
 * in it, and a consistency proof from the previous export's checkpoint, so the public key alone
 * shows the bundle is the log the team signed, and that nothing signed before was rewritten.
 */

interface ManifestBase {
  format: 'vt-audit-bundle';
  created_at: string;
  events: number;
  heads: Record<string, ChainHead>;
  /** sha256 of the event lines, in order, each with its trailing newline. */
  events_sha256: string;
}

export interface BundleManifestV1 extends ManifestBase {
  version: 1;
}

export interface BundleManifestV2 extends ManifestBase {
  version: 2;
  /** The one project exported, or null for the whole store. */
  project: string | null;
  log: {
    /** The signed checkpoint (C2SP signed note) the bundle is a view of. */
    checkpoint: string;
    /** Inclusion of each chain's head event in that checkpoint: leaf index and audit path (base64). */
    proofs: Record<string, { seq: number; index: number; proof: string[] }>;
    /** The checkpoint of the previous export and a consistency proof from it to this one. */
    previous: { checkpoint: string; proof: string[] } | null;
  };
}

export type BundleManifest = BundleManifestV1 | BundleManifestV2;

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');

/**
 * Write a version 2 bundle of the log as of `checkpoint` (events up to its size). Written to a
 * temporary file and renamed, so a crash never leaves half a bundle.
 */
export async function exportBundle(
  db: Db,
  file: string,
  opts: {
    now: Date;
    project?: string | undefined;
    checkpoint: { note: string; checkpoint: Checkpoint };
    /** The previous export's checkpoint note (already verified by the caller), if any. */
    previous?: string | null;
  },
): Promise<BundleManifestV2> {
  const cp = opts.checkpoint.checkpoint;
  const lines: string[] = [];
  const events: (StoredEvent & { gseq: number })[] = [];
  for await (const e of allEvents(db, opts.project, cp.size)) {
    events.push(e as StoredEvent & { gseq: number });
    lines.push(`${canonicalJson(e)}\n`);
  }
  const check = verifyEvents(events);
  if (!check.ok) {
    const b = check.firstBad!;
    throw new VtError(
      'VERIFY_FAILED',
      `refusing to export: event ${b.project_id}#${b.seq} does not verify (${b.reason})`,
      { hint: 'Run: vt audit verify' },
    );
  }
  const proofs: BundleManifestV2['log']['proofs'] = {};
  const gseqOf = new Map(events.map((e) => [`${e.project_id}#${e.seq}`, e.gseq]));
  for (const [project, head] of Object.entries(check.heads)) {
    const index = gseqOf.get(`${project}#${head.seq}`)! - 1;
    const proof = await fromStoredNodes(db, (read) => inclusionProof(read, index, cp.size));
    const v = verifyInclusion(
      index,
      cp.size,
      eventLeafHash({ project_id: project, ...head }),
      proof,
      cp.root,
    );
    if (!v.ok)
      throw new VtError(
        'VERIFY_FAILED',
        `refusing to export: the log does not prove ${project}#${head.seq}: ${v.reason}`,
        {
          hint: 'Run: vt audit verify',
        },
      );
    proofs[project] = { seq: head.seq, index, proof: proof.map(b64) };
  }
  let previous: BundleManifestV2['log']['previous'] = null;
  if (opts.previous) {
    const prev = parseCheckpointText(opts.previous.slice(0, opts.previous.lastIndexOf('\n\n') + 1));
    if (typeof prev === 'string') throw new VtError('BAD_INPUT', `the previous export's checkpoint: ${prev}`);
    if (prev.size > cp.size)
      throw new VtError(
        'VERIFY_FAILED',
        `the previous export was of size ${prev.size}, larger than the log's ${cp.size}: the log was truncated`,
        { hint: 'Run: vt audit verify' },
      );
    const proof =
      prev.size > 0 ? await fromStoredNodes(db, (read) => consistencyProof(read, prev.size, cp.size)) : [];
    const v = checkAdvance(prev, cp, proof);
    if (!v.ok)
      throw new VtError('VERIFY_FAILED', `the log is not consistent with the previous export: ${v.reason}`);
    previous = { checkpoint: opts.previous, proof: proof.map(b64) };
  }
  const body = lines.join('');
  const manifest: BundleManifestV2 = {
    format: 'vt-audit-bundle',
    version: 2,
    created_at: opts.now.toISOString(),
    events: events.length,
    heads: check.heads,
    events_sha256: sha256(body),
    project: opts.project ?? null,
    log: { checkpoint: opts.checkpoint.note, proofs, previous },
  };
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, `${canonicalJson(manifest)}\n${body}`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return manifest;
}

/**
 * Export against a fresh checkpoint (or, without the log key here, the latest kept one), proving
 * consistency from `since` or the previous export's checkpoint; records this export's checkpoint.
 */
export async function exportLogBundle(
  store: LogStore,
  file: string,
  opts: {
    now: Date;
    project?: string | undefined;
    dir: AuditDir;
    signer: NoteSigner | null;
    /** A checkpoint note to prove consistency from (default: the last export's). */
    since: string | null;
  },
): Promise<{ manifest: BundleManifestV2; checkpoint: KeptCheckpoint }> {
  const kept = await coveringCheckpoint(store, opts.dir, { signer: opts.signer, key: null, fresh: true });
  const previous = opts.since ?? opts.dir.lastExport();
  if (previous) {
    const key = opts.dir.verifierKey() ?? opts.signer?.verifier;
    const opened = key ? openCheckpoint(previous, key, kept.checkpoint.origin) : null;
    if (!opened?.ok)
      throw new VtError(
        'VERIFY_FAILED',
        `the previous export's checkpoint does not verify with the log key: ${opened?.ok === false ? opened.reason : 'no key'}`,
        { hint: 'Name a checkpoint of this log with --since, or remove audit/last-export.ckpt' },
      );
  }
  const manifest = await exportBundle(store.db, file, {
    now: opts.now,
    project: opts.project,
    checkpoint: kept,
    previous,
  });
  opts.dir.recordExport(kept.note);
  return { manifest, checkpoint: kept };
}

/**
 * A chain-only bundle (version 1), for a caller that holds no checkpoint (the HTTP API): it verifies
 * the chains offline but not against a signed log; `vt audit export` writes version 2.
 */
export async function exportChainBundle(
  db: Db,
  file: string,
  now: Date,
  projectId?: string,
): Promise<BundleManifestV1> {
  const lines: string[] = [];
  const events: StoredEvent[] = [];
  for await (const e of allEvents(db, projectId)) {
    events.push(e);
    lines.push(`${canonicalJson(e)}\n`);
  }
  const check = verifyEvents(events);
  if (!check.ok) {
    const b = check.firstBad!;
    throw new VtError(
      'VERIFY_FAILED',
      `refusing to export: event ${b.project_id}#${b.seq} does not verify (${b.reason})`,
    );
  }
  const body = lines.join('');
  const manifest: BundleManifestV1 = {
    format: 'vt-audit-bundle',
    version: 1,
    created_at: now.toISOString(),
    events: events.length,
    heads: check.heads,
    events_sha256: sha256(body),
  };
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, `${canonicalJson(manifest)}\n${body}`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return manifest;
}

export interface BundleLogCheck {
  origin: string;
  size: number;
  root: string;
  /** True when the checkpoint's signature was checked with a key; false when no key was given. */
  signed: boolean;
  key: string | null;
  /** Head proofs that verified. */
  proofs: number;
  /** Size of the previous export's checkpoint the bundle proved consistency from. */
  previous: number | null;
  /** The bundle holds every leaf of the checkpoint, and they give its root (a whole-store bundle). */
  complete: boolean;
  problems: string[];
}

export type BundleResult = VerifyResult & {
  manifestOk: boolean;
  version: number;
  log: BundleLogCheck | null;
  warnings: string[];
};

/**
 * Verify a bundle offline: the chains, the event digest and the heads its manifest names; for
 * version 2 also the checkpoint's signature (with `key`), each head's inclusion proof, the root
 * of a whole-store bundle recomputed from its events, and the consistency proof from the previous
 * export.
 */
export function verifyBundle(file: string, opts: { key?: NoteVerifier | null } = {}): BundleResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VtError('NOT_FOUND', `cannot read the bundle ${file}: ${(err as Error).message}`);
  }
  const [head, ...rest] = text.split('\n');
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(head ?? '');
  } catch {
    throw new VtError('BAD_INPUT', `${file} is not a vt audit bundle: its first line is not a manifest`);
  }
  if (manifest?.format !== 'vt-audit-bundle')
    throw new VtError('BAD_INPUT', `${file} is not a vt audit bundle`);
  if (manifest.version !== 1 && manifest.version !== 2)
    throw new VtError(
      'BAD_INPUT',
      `${file} is a bundle of version ${String((manifest as { version: unknown }).version)}, which this vt cannot read`,
    );
  const version = manifest.version;
  const eventLines = rest.filter((l) => l !== '');
  const events: (StoredEvent & { gseq?: number })[] = [];
  for (let i = 0; i < eventLines.length; i++) {
    try {
      events.push(JSON.parse(eventLines[i]!));
    } catch {
      return {
        ok: false,
        checked: i,
        projects: 0,
        heads: {},
        erasures: [],
        manifestOk: false,
        version,
        log: null,
        warnings: [],
        firstBad: { project_id: '?', seq: i + 1, reason: `line ${i + 2} is not JSON` },
      };
    }
  }
  const result = verifyEvents(events, manifest.heads);
  const body = eventLines.map((l) => `${l}\n`).join('');
  const manifestOk =
    sha256(body) === manifest.events_sha256 &&
    events.length === manifest.events &&
    Object.keys(result.heads).length === Object.keys(manifest.heads).length;
  const warnings: string[] = [];
  if (version === 1) warnings.push('a version 1 bundle: chains only, no signed checkpoint');
  const log = manifest.version === 2 ? checkLog(manifest, events, result, opts.key ?? null, warnings) : null;
  let ok = result.ok && manifestOk && (log ? log.problems.length === 0 : true);
  let firstBad = result.firstBad;
  if (result.ok && !manifestOk)
    firstBad = {
      project_id: '*',
      seq: 0,
      reason: 'the events do not match the manifest (count, digest or projects)',
    };
  else if (result.ok && log?.problems.length)
    firstBad = { project_id: '*', seq: 0, reason: log.problems[0]! };
  if (!result.ok) ok = false;
  return { ...result, ok, firstBad, manifestOk, version, log, warnings };
}

function checkLog(
  m: BundleManifestV2,
  events: (StoredEvent & { gseq?: number })[],
  chain: VerifyResult,
  key: NoteVerifier | null,
  warnings: string[],
): BundleLogCheck {
  const problems: string[] = [];
  const note = m.log?.checkpoint ?? '';
  let cp: Checkpoint | null = null;
  if (key) {
    const opened = openCheckpoint(note, key);
    if (opened.ok) cp = opened.checkpoint;
    else problems.push(`the bundle's checkpoint does not verify with ${key.name}: ${opened.reason}`);
  } else {
    warnings.push("the checkpoint's signature was not checked: pass --key audit/log.pub");
    const opened = openNote(note, []);
    const parsed = parseCheckpointText(opened.ok ? opened.text : (opened.text ?? ''));
    if (typeof parsed === 'string') problems.push(`the bundle's checkpoint does not parse: ${parsed}`);
    else cp = parsed;
  }
  const out: BundleLogCheck = {
    origin: cp?.origin ?? '',
    size: cp?.size ?? 0,
    root: cp ? b64(cp.root) : '',
    signed: !!key && !!cp,
    key: key?.vkey ?? null,
    proofs: 0,
    previous: null,
    complete: false,
    problems,
  };
  if (!cp) return out;
  // Every chain's head is a leaf of the signed tree, at the place its line says.
  const byKey = new Map(events.map((e) => [`${e.project_id}#${e.seq}`, e]));
  for (const [project, head] of Object.entries(chain.heads)) {
    const p = m.log.proofs?.[project];
    const e = byKey.get(`${project}#${head.seq}`);
    if (!p || p.seq !== head.seq) {
      problems.push(`no inclusion proof of ${project}#${head.seq}, the head of its chain`);
      continue;
    }
    if (e?.gseq !== undefined && e.gseq !== p.index + 1) {
      problems.push(`${project}#${head.seq} is event number ${e.gseq}, but its proof is for leaf ${p.index}`);
      continue;
    }
    const v = verifyInclusion(
      p.index,
      cp.size,
      eventLeafHash({ project_id: project, seq: head.seq, hash: head.hash }),
      (p.proof ?? []).map((h) => Buffer.from(h, 'base64')),
      cp.root,
    );
    if (v.ok) out.proofs++;
    else problems.push(`${project}#${head.seq} is not in the signed log: ${v.reason}`);
  }
  // A whole-store bundle holds every leaf: its root is recomputed from the events.
  if (m.project === null) {
    const ordered = [...events].sort((a, b) => (a.gseq ?? 0) - (b.gseq ?? 0));
    const range = emptyRange();
    for (const e of ordered) {
      if (e.gseq !== range.size + 1) {
        problems.push(
          `event number ${range.size + 1} is missing from the bundle (next: ${e.project_id}#${e.seq})`,
        );
        break;
      }
      appendLeaf(range, eventLeafHash(e));
    }
    if (!problems.length && range.size !== cp.size)
      problems.push(`the bundle holds ${range.size} events, the checkpoint signs ${cp.size}`);
    else if (!problems.length && !rangeRoot(range).equals(cp.root))
      problems.push(
        "the bundle's events do not give the signed root: an event was inserted, dropped or rewritten",
      );
    else if (!problems.length) out.complete = true;
  }
  // Consistency with the previous export: nothing signed then was rewritten since.
  if (m.log.previous) {
    const prevNote = m.log.previous.checkpoint;
    let prev: Checkpoint | null = null;
    if (key) {
      const opened = openCheckpoint(prevNote, key);
      if (opened.ok) prev = opened.checkpoint;
      else problems.push(`the previous export's checkpoint does not verify: ${opened.reason}`);
    } else {
      const opened = openNote(prevNote, []);
      const parsed = parseCheckpointText(opened.ok ? opened.text : (opened.text ?? ''));
      if (typeof parsed !== 'string') prev = parsed;
    }
    if (prev) {
      const v = checkAdvance(
        prev,
        cp,
        m.log.previous.proof.map((h) => Buffer.from(h, 'base64')),
      );
      if (v.ok) out.previous = prev.size;
      else problems.push(`not consistent with the previous export: ${v.reason}`);
    }
  }
  return out;
}
