import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { VtError } from '../errors.ts';
import { NoteFormatError, type NoteVerifier, parseVerifierKey } from './note.ts';

/** The folder the team commits to git, beside vt.yaml by default. */
export const AUDIT_DIR = 'audit';

export interface StoredCheckpoint {
  size: number;
  file: string;
}

const NAME = /^(\d{12,16})\.ckpt$/;

/** Write a file whole or not at all: a temporary file, fsynced, renamed over the target. */
function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** As writeAtomic, without blocking the event loop: checkpoints are written while commits go on. */
async function writeAtomicAsync(file: string, text: string): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * The log's public side, kept outside the store: `log.pub` (the verifier key), `checkpoints/`
 * (one signed checkpoint per file, named by tree size) and `last-export.ckpt` (the checkpoint the
 * latest export bundle was made against).
 */
export class AuditDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }
  get pubFile(): string {
    return join(this.dir, 'log.pub');
  }
  get checkpointsDir(): string {
    return join(this.dir, 'checkpoints');
  }
  get lastExportFile(): string {
    return join(this.dir, 'last-export.ckpt');
  }

  /** The verifier key in log.pub, or null when there is none yet. */
  verifierKey(): NoteVerifier | null {
    if (!existsSync(this.pubFile)) return null;
    return readVerifierKeyFile(this.pubFile);
  }

  /** Record the log's verifier key; refuses to replace a different one. */
  writeVerifierKey(key: NoteVerifier): void {
    const have = this.verifierKey();
    if (have?.vkey === key.vkey) return;
    if (have)
      throw new VtError(
        'CONFLICT',
        `${this.pubFile} holds another key (${have.name}+${have.keyId.toString(16)})`,
        {
          hint: 'This log is signed by the key in log.pub; use that key (VT_LOG_KEY_FILE)',
        },
      );
    writeAtomic(this.pubFile, `${key.vkey}\n`);
  }

  fileFor(size: number): string {
    return join(this.checkpointsDir, `${String(size).padStart(12, '0')}.ckpt`);
  }

  /** Checkpoint files, smallest size first (files of other names are ignored). */
  checkpoints(): StoredCheckpoint[] {
    if (!existsSync(this.checkpointsDir)) return [];
    return this.#parse(readdirSync(this.checkpointsDir));
  }

  #parse(names: string[]): StoredCheckpoint[] {
    return names
      .map((f) => NAME.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ size: Number(m[1]), file: join(this.checkpointsDir, m[0]) }))
      .sort((a, b) => a.size - b.size);
  }

  /**
   * What the folder looks like from outside, in two stats: the modification times of the folder
   * (log.pub is renamed into it) and of checkpoints/ (each checkpoint is renamed into it). Equal
   * stamps mean no file was added or replaced in between (to the kernel's timestamp granularity).
   */
  stamp(): string {
    const at = (d: string) => statSync(d, { bigint: true, throwIfNoEntry: false })?.mtimeNs ?? -1n;
    return `${at(this.dir)}:${at(this.checkpointsDir)}`;
  }

  read(file: string): string {
    return readFileSync(file, 'utf8');
  }

  latest(): (StoredCheckpoint & { note: string; writtenAt: number }) | null {
    const last = this.checkpoints().at(-1);
    if (!last) return null;
    return { ...last, note: readFileSync(last.file, 'utf8'), writtenAt: statSync(last.file).mtimeMs };
  }

  /** As latest(), off the event loop. */
  async latestAsync(): Promise<(StoredCheckpoint & { note: string }) | null> {
    let names: string[];
    try {
      names = await readdir(this.checkpointsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const last = this.#parse(names).at(-1);
    return last ? { ...last, note: await readFile(last.file, 'utf8') } : null;
  }

  /**
   * Keep a signed checkpoint. Ed25519 signatures are deterministic, so the same tree head gives the
   * same bytes; another note for a size already kept is refused (the log would have forked).
   */
  async write(
    size: number,
    note: string,
    opts: { absent?: boolean } = {},
  ): Promise<{ file: string; written: boolean }> {
    const file = this.fileFor(size);
    // `absent`: the writer knows the folder holds nothing of this size (it wrote the latest, smaller).
    const have = opts.absent
      ? null
      : await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return null;
          throw err;
        });
    if (have === note) return { file, written: false };
    if (have !== null)
      throw new VtError('CONFLICT', `${file} already holds another checkpoint of size ${size}`, {
        hint: 'Two different trees of one size: run vt audit verify',
      });
    await writeAtomicAsync(file, note);
    return { file, written: true };
  }

  recordExport(note: string): void {
    writeAtomic(this.lastExportFile, note);
  }

  lastExport(): string | null {
    return existsSync(this.lastExportFile) ? readFileSync(this.lastExportFile, 'utf8') : null;
  }
}

/** Read a verifier key file: the first line that is not blank or a # comment. */
export function readVerifierKeyFile(file: string): NoteVerifier {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VtError('NOT_FOUND', `cannot read the verifier key ${file}: ${(err as Error).message}`);
  }
  const line = text.split('\n').find((l) => l.trim() && !l.trim().startsWith('#'));
  try {
    return parseVerifierKey(line ?? '');
  } catch (err) {
    if (err instanceof NoteFormatError)
      throw new VtError('BAD_INPUT', `${file} is not a verifier key: ${err.message}`, {
        hint: 'It reads name+keyid+base64key, as audit/log.pub does',
      });
    throw err;
  }
}
