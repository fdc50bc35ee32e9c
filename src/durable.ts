import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Durable file writes: what vt acknowledges survives a power cut, and a crash or a full disk never
 * leaves a half-written file. Each write goes to a temporary file beside the target, is fsynced,
 * renamed over the target (atomic on POSIX), and the folder is fsynced so the rename itself is on
 * disk. On failure the temporary file is removed and the target is left as it was.
 */

/** fsync a folder, so entries created, renamed or removed in it are durable. */
export function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return; // a platform that cannot open folders (not Linux or macOS) has nothing to sync here
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    // Some file systems refuse fsync on a folder (EINVAL); the data itself was synced.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    closeSync(fd);
  }
}

/** fsync a file's contents. */
export function fsyncFile(file: string): void {
  const fd = openSync(file, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** mkdir -p, fsyncing the parent of every folder it created. */
export function mkdirDurable(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let d = target; !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  if (!missing.length) return;
  mkdirSync(target, { recursive: true });
  for (const d of missing) fsyncDir(dirname(d));
}

function tempBeside(file: string): string {
  return join(
    dirname(file),
    `.${basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  );
}

/** Write `data` to `file` durably and atomically (temp file, fsync, rename, fsync the folder). */
export function writeFileDurable(
  file: string,
  data: string | Uint8Array,
  opts: { mode?: number } = {},
): void {
  const target = resolve(file);
  mkdirDurable(dirname(target));
  const tmp = tempBeside(target);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, opts.mode ?? 0o644);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, target);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw namingTarget(err, target);
  }
  fsyncDir(dirname(target));
}

/** Copy a file durably and atomically, like writeFileDurable. */
export function copyFileDurable(src: string, dest: string): void {
  const target = resolve(dest);
  mkdirDurable(dirname(target));
  const tmp = tempBeside(target);
  try {
    copyFileSync(src, tmp, constants.COPYFILE_EXCL);
    fsyncFile(tmp);
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw namingTarget(err, target);
  }
  fsyncDir(dirname(target));
}

/** An error about the temporary file is reported as being about the file the caller asked for. */
function namingTarget(err: unknown, target: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && typeof e.path === 'string' && e.path.includes('.tmp-')) e.path = target;
  return err;
}
