import { VtError } from '../errors.ts';
import { nodeReader, readLogState } from '../store/merkle-log.ts';
import type { Db } from '../store/store.ts';
import type { AuditDir } from './audit-dir.ts';
import { type Checkpoint, checkAdvance, openCheckpoint, signCheckpoint } from './checkpoint.ts';
import { consistencyProof } from './merkle.ts';
import type { NoteSigner, NoteVerifier } from './note.ts';

export interface WrittenCheckpoint {
  file: string;
  /** False when the same checkpoint was already kept (the log had not grown). */
  written: boolean;
  checkpoint: Checkpoint;
  note: string;
}

/**
 * Sign the store's log at its current size and keep the checkpoint in `dir`. The log signs nothing
 * inconsistent with what it signed before: the latest kept checkpoint must verify with the log's key
 * and the new tree must extend it (a consistency proof from the stored nodes), else it refuses.
 */
export async function writeCheckpoint(db: Db, dir: AuditDir, signer: NoteSigner): Promise<WrittenCheckpoint> {
  const pub = dir.verifierKey();
  if (pub && pub.vkey !== signer.verifier.vkey)
    throw new VtError(
      'CONFLICT',
      `the log key ${signer.name} is not the key in ${dir.pubFile} (${pub.name})`,
      {
        hint: "Sign with the log's key: set VT_LOG_KEY_FILE to it",
      },
    );
  const state = await readLogState(db);
  const cp: Checkpoint = { origin: state.origin, size: state.range.size, root: state.root };
  const latest = dir.latest();
  if (latest) {
    const opened = openCheckpoint(latest.note, pub ?? signer.verifier);
    if (!opened.ok)
      throw new VtError(
        'VERIFY_FAILED',
        `${latest.file} does not verify with the log key: ${opened.reason}`,
        {
          hint: 'Run: vt audit verify',
        },
      );
    const seen = opened.checkpoint;
    if (seen.origin !== cp.origin)
      throw new VtError(
        'CONFLICT',
        `${dir.checkpointsDir} holds checkpoints of log ${seen.origin}; this store is log ${cp.origin}`,
        { hint: 'A new store is a new log: move the old checkpoints aside (git mv) or use VT_AUDIT_DIR' },
      );
    const proof =
      seen.size > 0 && seen.size < cp.size ? await consistencyProof(nodeReader(db), seen.size, cp.size) : [];
    const v = checkAdvance(seen, cp, proof);
    if (!v.ok)
      throw new VtError('VERIFY_FAILED', `refusing to sign the log at size ${cp.size}: ${v.reason}`, {
        hint: 'Run: vt audit verify',
      });
  }
  if (!pub) dir.writeVerifierKey(signer.verifier);
  const note = signCheckpoint(cp, signer);
  return { ...dir.write(cp.size, note), checkpoint: cp, note };
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
  db: Db,
  dir: AuditDir,
  opts: { signer: NoteSigner | null; key: NoteVerifier | null; fresh?: boolean; minSize?: number },
): Promise<KeptCheckpoint> {
  const state = await readLogState(db);
  const key = opts.key ?? dir.verifierKey() ?? opts.signer?.verifier ?? null;
  let kept = key ? latestCheckpoint(dir, key, state.origin) : null;
  const tooOld = !kept || kept.checkpoint.size < (opts.minSize ?? 0);
  if (opts.signer && (opts.fresh || tooOld)) {
    const w = await writeCheckpoint(db, dir, opts.signer);
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
