import { VtError } from './errors.ts';

/**
 * Failures of the machine rather than of vt — a full disk, a damaged or read-only store, a folder
 * vt may not write — turned into VtErrors that say what happened and what to do, with their own
 * codes and exit codes. Anything else is returned unchanged.
 */
/** How to get a damaged store back. */
export const STORE_WAY_BACK =
  'Restore a backup with: vt db restore BACKUP.db, or rebuild the store from an audit export with: vt db import BUNDLE.jsonl';

export function classifyFailure(err: unknown, where: { store?: string } = {}): unknown {
  const code = failureCode(err);
  if (!code) return err;
  const message = err instanceof Error ? err.message : String(err);
  const path = (err as { path?: string }).path ?? (err as VtError).details?.path;
  const store = where.store ?? ((err as VtError).details?.store as string | undefined);
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
    const on = code === 'SQLITE_FULL' ? (store ?? 'the store') : (path ?? 'a file vt writes');
    return new VtError('DISK_FULL', `no space left on the device holding ${on} (${code})`, {
      hint: 'Nothing was half-written. Free some space (see df -h), then run the same command again: it carries on where it stopped',
      details: { cause: code, ...(store ? { store } : {}), ...(path ? { path } : {}) },
    });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
    return damagedStore(store ?? 'in use', `is corrupt (${code}: ${message})`);
  if (code.startsWith('SQLITE_READONLY'))
    return new VtError(
      'NOT_PERMITTED',
      `the store ${store ?? ''} is read-only here and this command writes (${code})`,
      {
        hint: 'Read commands (status, audit verify, …) still work; to write, give this user write access to the store file and its folder',
        details: { cause: code, ...(store ? { store } : {}) },
      },
    );
  if ((code === 'EACCES' || code === 'EPERM' || code === 'EROFS') && path)
    return new VtError(
      'NOT_PERMITTED',
      `cannot write ${path}: ${code === 'EROFS' ? 'the file system is read-only' : 'permission denied'}`,
      {
        hint: 'Run vt where this user may write, or pick another folder with --dir',
        details: { cause: code, path },
      },
    );
  return err;
}

/** The SQLite or errno code of an error, looking through a VtError that wrapped one. */
function failureCode(err: unknown): string | null {
  if (!err || typeof err !== 'object') return null;
  if (err instanceof VtError) {
    if (err.code === 'DISK_FULL' || err.code === 'STORE_DAMAGED') return null;
    const cause = err.details?.cause;
    if (typeof cause === 'string') return cause;
    // A child process (git) that failed on a full disk, wrapped with its output.
    return /No space left on device/.test(err.message) ? 'ENOSPC' : null;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return code;
  // Child processes (git) report a full disk only in their messages.
  const message = err instanceof Error ? err.message : '';
  return /No space left on device|ENOSPC/.test(message) ? 'ENOSPC' : null;
}

/** The error for a store that is empty, truncated or corrupt: what is wrong and the way back. */
export function damagedStore(file: string, what: string): VtError {
  return new VtError('STORE_DAMAGED', `the store ${file} ${what}`, {
    hint: `${STORE_WAY_BACK}. The damaged file is left as it is.`,
    details: { store: file },
  });
}
