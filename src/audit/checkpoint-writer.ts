import { VtError } from '../errors.ts';
import { fromStoredNodes, readLogState } from '../store/merkle-log.ts';
import type { Store } from '../store/store.ts';

/** What signing needs of the store. */
export type LogStore = Pick<Store, 'db'>;

import { consistencyProof } from '../merkle.ts';
import type { AuditDir } from './audit-dir.ts';
import {
  type Checkpoint,
  checkAdvance,
  openCheckpoint,
  parseCheckpointText,
  signCheckpoint,
} from './checkpoint.ts';
import type { NoteSigner, NoteVerifier } from './note.ts';

export interface WrittenCheckpoint {
  file: string;
  /** False when the same checkpoint was already kept (the log had not grown). */
  written: boolean;
  checkpoint: Checkpoint;
  note: string;
  /** What the writer saw of the folder afterwards: pass it as `known` to the next call. */
  known: KnownCheckpoint;
}

/**
 * A checkpoint this process wrote (so verified when it was made), with the folder's stamp after it.
 * While the stamp holds, nobody else has written there: the latest kept checkpoint is this one and
 * log.pub is the key seen then, so the next checkpoint needs neither a listing nor a read.
 */
export interface KnownCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  /** The key in log.pub (written with the first checkpoint if there was none). */
  pub: NoteVerifier;
  stamp: string;
}

/**
 * Sign the store's log at its current size and keep the checkpoint in `dir`. The log signs nothing
 * inconsistent with what it signed before: the latest kept checkpoint must verify with the log's key
 * and the new tree must extend it (a consistency proof from the stored nodes), else it refuses.
 * Reads wait for any open transaction (Kysely serialises SQLite's one connection; PostgreSQL reads
 * on a connection of their own), so only committed events are ever signed.
 */
export async function writeCheckpoint(
  store: LogStore,
  dir: AuditDir,
  signer: NoteSigner,
  opts: { known?: KnownCheckpoint | null } = {},
): Promise<WrittenCheckpoint> {
  const known = opts.known && opts.known.stamp === dir.stamp() ? opts.known : null;
  const pub = known ? known.pub : dir.verifierKey();
  if (pub && pub.vkey !== signer.verifier.vkey)
    throw new VtError(
      'CONFLICT',
      `the log key ${signer.name} is not the key in ${dir.pubFile} (${pub.name})`,
      {
        hint: "Sign with the log's key: set VT_LOG_KEY_FILE to it",
      },
    );
  const seen = known ? known.checkpoint : await latestKept(dir, pub ?? signer.verifier, opts.known?.note);
  const state = await readLogState(store.db);
  const cp: Checkpoint = { origin: state.origin, size: state.range.size, root: state.root };
  const from = seen?.size ?? 0;
  // Nodes never change once stored, so a proof read after the head still fits it.
  const proof =
    from > 0 && from < cp.size
      ? await fromStoredNodes(store.db, (read) => consistencyProof(read, from, cp.size))
      : [];
  if (seen) {
    if (seen.origin !== cp.origin)
      throw new VtError(
        'CONFLICT',
        `${dir.checkpointsDir} holds checkpoints of log ${seen.origin}; this store is log ${cp.origin}`,
        { hint: 'A new store is a new log: move the old checkpoints aside (git mv) or use VT_AUDIT_DIR' },
      );
    const v = checkAdvance(seen, cp, proof);
    if (!v.ok)
      throw new VtError('VERIFY_FAILED', `refusing to sign the log at size ${cp.size}: ${v.reason}`, {
        hint: 'Run: vt audit verify',
      });
  }
  if (!pub) dir.writeVerifierKey(signer.verifier);
  const note = signCheckpoint(cp, signer);
  // The same size as the known latest is the same tree (checkAdvance), so the same bytes.
  const kept = await dir.write(cp.size, note, { absent: known !== null && cp.size > known.checkpoint.size });
  // A file another process adds within the same timestamp tick as this write (a few ms) leaves the
  // stamp as it is and goes unseen until the folder changes again. Such a writer signs this same
  // store's log, and every checkpoint here is still checked against the stored tree.
  return {
    ...kept,
    checkpoint: cp,
    note,
    known: { note, checkpoint: cp, pub: pub ?? signer.verifier, stamp: dir.stamp() },
  };
}

/**
 * The latest kept checkpoint, verified with the log's key; one whose note this process wrote
 * itself (`mine`) was verified when it was made.
 */
async function latestKept(dir: AuditDir, key: NoteVerifier, mine?: string): Promise<Checkpoint | null> {
  const latest = await dir.latestAsync();
  if (!latest) return null;
  const opened =
    latest.note === mine
      ? { ok: true as const, checkpoint: parseKnown(latest.note) }
      : openCheckpoint(latest.note, key);
  if (!opened.ok)
    throw new VtError('VERIFY_FAILED', `${latest.file} does not verify with the log key: ${opened.reason}`, {
      hint: 'Run: vt audit verify',
    });
  return opened.checkpoint;
}

function parseKnown(note: string): Checkpoint {
  const c = parseCheckpointText(note.slice(0, note.lastIndexOf('\n\n') + 1));
  if (typeof c === 'string') throw new Error(`a checkpoint this process wrote does not parse: ${c}`);
  return c;
}

export interface KeptCheckpoint {
  file: string;
  note: string;
  checkpoint: Checkpoint;
}

/** The latest checkpoint in the folder, verified with the log's key and of this log. */
export function latestCheckpoint(dir: AuditDir, key: NoteVerifier, origin: string): KeptCheckpoint | null {
  const last = dir.latest();
  if (!last) return null;
  const opened = openCheckpoint(last.note, key, origin);
  if (!opened.ok)
    throw new VtError('VERIFY_FAILED', `${last.file} does not verify: ${opened.reason}`, {
      hint: 'Run: vt audit verify',
    });
  return { file: last.file, note: last.note, checkpoint: opened.checkpoint };
}

/**
 * The checkpoint a proof or an export is made against: a fresh one when the log key is here (and
 * `fresh`, or the latest kept one is too old), else the latest kept one, verified with the log's key.
 */
export async function coveringCheckpoint(
  store: LogStore,
  dir: AuditDir,
  opts: { signer: NoteSigner | null; key: NoteVerifier | null; fresh?: boolean; minSize?: number },
): Promise<KeptCheckpoint> {
  const state = await readLogState(store.db);
  const key = opts.key ?? dir.verifierKey() ?? opts.signer?.verifier ?? null;
  let kept = key ? latestCheckpoint(dir, key, state.origin) : null;
  const tooOld = !kept || kept.checkpoint.size < (opts.minSize ?? 0);
  if (opts.signer && (opts.fresh || tooOld)) {
    const w = await writeCheckpoint(store, dir, opts.signer);
    kept = { file: w.file, note: w.note, checkpoint: w.checkpoint };
  }
  if (!key && !opts.signer)
    throw new VtError('NOT_FOUND', `no log key here and no verifier key in ${dir.pubFile}`, {
      hint: 'Make the log key with: vt audit checkpoint --init',
    });
  if (!kept)
    throw new VtError('NOT_FOUND', `no checkpoint in ${dir.checkpointsDir} yet, and no log key to sign one`, {
      hint: 'Make the log key and a first checkpoint with: vt audit checkpoint --init',
    });
  if (kept.checkpoint.size < (opts.minSize ?? 0))
    throw new VtError(
      'NOT_FOUND',
      `the latest checkpoint (size ${kept.checkpoint.size}) does not cover event number ${opts.minSize}`,
      {
        hint: 'Write one with the log key: vt audit checkpoint',
      },
    );
  return kept;
}
