import { EMPTY_ROOT, HASH_SIZE, type Verdict, verifyConsistency } from '../merkle.ts';
import { isValidKeyName, type NoteSigner, type NoteVerifier, openNote, signNote } from './note.ts';

/**
 * Transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): a signed note whose text is
 * `origin\nsize\nbase64(root)\n`. The origin names the log; the size and root are its Merkle tree
 * head. A checkpoint kept outside the store pins every event the log held at that size.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

export function checkpointText(c: Checkpoint): string {
  if (!isValidKeyName(c.origin)) throw new Error(`"${c.origin}" is not a usable origin`);
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new Error(`bad tree size ${c.size}`);
  if (c.root.length !== HASH_SIZE) throw new Error('a root hash has 32 bytes');
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

/** Parse a checkpoint's note text (extension lines are refused: this log writes none). */
export function parseCheckpointText(text: string): Checkpoint | string {
  const lines = text.split('\n');
  if (lines.length !== 4 || lines[3] !== '') return 'a checkpoint text has exactly three lines';
  const [origin, size, root] = lines as [string, string, string];
  if (!origin) return 'the origin line is empty';
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size)))
    return `"${size}" is not a tree size`;
  const hash = Buffer.from(root, 'base64');
  if (hash.length !== HASH_SIZE || hash.toString('base64') !== root)
    return 'the root line is not a base64 hash';
  if (size === '0' && !hash.equals(EMPTY_ROOT)) return 'the empty tree has another root';
  return { origin, size: Number(size), root: hash };
}

export function signCheckpoint(c: Checkpoint, signer: NoteSigner): string {
  return signNote(checkpointText(c), signer);
}

export type OpenedCheckpoint =
  | { ok: true; checkpoint: Checkpoint; note: string }
  | { ok: false; reason: string };

/**
 * Verify a checkpoint note with the log's key and parse it. With `origin`, the checkpoint must
 * name that log: a checkpoint of another log signed by the same key proves nothing here.
 */
export function openCheckpoint(note: string, key: NoteVerifier, origin?: string): OpenedCheckpoint {
  const opened = openNote(note, [key]);
  if (!opened.ok) return { ok: false, reason: opened.reason };
  const c = parseCheckpointText(opened.text);
  if (typeof c === 'string') return { ok: false, reason: c };
  if (origin !== undefined && c.origin !== origin)
    return { ok: false, reason: `the checkpoint is of log "${c.origin}", not "${origin}"` };
  return { ok: true, checkpoint: c, note };
}

/**
 * May `next` follow `seen`? Never to a smaller tree (a rollback or a truncation), never to another
 * root at the same size (a fork), and only with a consistency proof from `seen` to `next`.
 */
export function checkAdvance(seen: Checkpoint, next: Checkpoint, proof: readonly Uint8Array[]): Verdict {
  if (seen.origin !== next.origin)
    return {
      ok: false,
      reason: `the checkpoints are of different logs ("${seen.origin}", "${next.origin}")`,
    };
  if (next.size < seen.size)
    return {
      ok: false,
      reason: `size ${next.size} is older than size ${seen.size}, already seen: the log was truncated or rolled back`,
    };
  if (next.size === seen.size)
    return next.root.equals(seen.root)
      ? { ok: true }
      : { ok: false, reason: `two different roots at size ${seen.size}: the log forked` };
  if (seen.size === 0) return { ok: true };
  const v = verifyConsistency(seen.size, next.size, proof, seen.root, next.root);
  return v.ok
    ? v
    : {
        ok: false,
        reason: `the tree of size ${next.size} does not extend the one of size ${seen.size}: ${v.reason}`,
      };
}
