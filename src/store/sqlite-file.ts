import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { damagedStore } from '../failures.ts';

/** What a SQLite store file looks like on disk, before SQLite is asked to open it. */
export type StoreFileState =
  | { state: 'missing' }
  | { state: 'empty' }
  | { state: 'not-sqlite' }
  | { state: 'truncated'; expected: number; actual: number }
  | { state: 'ok'; size: number };

const MAGIC = 'SQLite format 3\u0000';

/**
 * Look at a store file's header: a file emptied to 0 bytes (which SQLite would happily treat as a
 * brand-new database), one that is not SQLite at all, and one shorter than the page count its
 * header records (cut off by a full disk, a bad copy or a crash of the file system).
 */
export function inspectStoreFile(file: string): StoreFileState {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { state: 'missing' };
  }
  if (size === 0) return { state: 'empty' };
  const head = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 100 || head.toString('latin1', 0, 16) !== MAGIC) return { state: 'not-sqlite' };
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  const pages = head.readUInt32BE(28);
  // The page count is valid only when the "version-valid-for" number matches the change counter.
  const valid = head.readUInt32BE(92) === head.readUInt32BE(24);
  if (valid && pages > 0 && size < pages * pageSize)
    return { state: 'truncated', expected: pages * pageSize, actual: size };
  return { state: 'ok', size };
}

/** How to get a damaged store back, said the same way everywhere. */
export { STORE_WAY_BACK } from '../failures.ts';

/** Refuse a store file that is visibly damaged before SQLite opens it. */
export function assertStoreFileSound(file: string): void {
  const s = inspectStoreFile(file);
  if (s.state === 'empty')
    throw damagedStore(
      file,
      'is empty (0 bytes): its data is gone. (A store never used can simply be deleted; vt creates a new one)',
    );
  if (s.state === 'not-sqlite') throw damagedStore(file, 'is not a SQLite database (its header is wrong)');
  if (s.state === 'truncated')
    throw damagedStore(
      file,
      `is truncated: its header records ${s.expected} bytes but the file holds ${s.actual}`,
    );
}
