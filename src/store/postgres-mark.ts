import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The mark `vt init` leaves in .vt/ when the folder's store is on PostgreSQL. It holds no URL (the
 * URL may carry a password): it says only that the store is elsewhere, so a command run without
 * VT_DATABASE_URL stops instead of starting a second, empty SQLite store beside the real one.
 */
export function postgresMarkPath(root: string): string {
  return join(root, '.vt', 'store');
}

const MARK =
  "postgres\n# This folder's store is on PostgreSQL. vt takes its URL from VT_DATABASE_URL or --db.\n" +
  '# If the store moved to .vt/vt.db (vt db copy), delete this file.\n';

/** Mark `root` as a folder whose store is on PostgreSQL. */
export function markPostgresFolder(root: string): void {
  const mark = postgresMarkPath(root);
  mkdirSync(dirname(mark), { recursive: true });
  writeFileSync(mark, MARK);
}

/** The mark's path when `root` carries one, else null. */
export function postgresMarkOf(root: string): string | null {
  const mark = postgresMarkPath(root);
  return existsSync(mark) ? mark : null;
}
