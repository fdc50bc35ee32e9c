import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { copyFileDurable, fsyncDir, fsyncFile, mkdirDurable } from '../durable.ts';
import { VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import { inspectStoreFile } from '../store/sqlite-file.ts';
import { checkSqliteStore, type StoreCheckReport } from './store-check.ts';

const SIDE_FILES = ['-wal', '-shm'] as const;

/**
 * Copy a live SQLite store to `dest` with SQLite's online backup API. The last step copies every
 * page inside one read transaction, so the copy is a consistent snapshot even while autopilots
 * write (WAL readers do not block writers). The copy is checked (integrity, chains, projections)
 * under a temporary name, fsynced, and only then renamed to `dest`.
 */
export async function backupSqliteStore(
  file: string,
  dest: string,
  opts: { force?: boolean } = {},
): Promise<StoreCheckReport & { file: string; bytes: number }> {
  const target = resolve(dest);
  if (target === resolve(file)) throw new VtError('BAD_INPUT', 'the backup cannot be the store itself');
  if (existsSync(target) && !opts.force)
    throw new VtError('CONFLICT', `${target} already exists`, {
      hint: 'Name a new file, or overwrite it with: --force',
    });
  mkdirDurable(dirname(target));
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  rmSync(tmp, { force: true });
  try {
    const src = new Database(file, { readonly: true, fileMustExist: true });
    try {
      await src.backup(tmp, { progress: () => 0x7fffffff });
    } finally {
      src.close();
    }
    // A backup is one self-contained file: fold any WAL the copy has into it.
    const copy = new Database(tmp);
    try {
      copy.pragma('journal_mode = DELETE');
    } finally {
      copy.close();
    }
    const check = await checkSqliteStore(tmp);
    if (!check.ok) {
      const bad = check.checks.find((c) => !c.ok)!;
      throw new VtError('STORE_DAMAGED', `the backup of ${file} does not check out: ${bad.message}`, {
        hint: 'The store itself may be damaged: vt db check',
      });
    }
    fsyncFile(tmp);
    renameSync(tmp, target);
    fsyncDir(dirname(target));
    return { ...check, store: file, file: target, bytes: statSync(target).size };
  } catch (err) {
    rmSync(tmp, { force: true });
    for (const s of SIDE_FILES) rmSync(tmp + s, { force: true });
    throw classifyFailure(err, { store: file });
  }
}

/** What a restore will do, for the plan printed before it. */
export interface RestorePlan {
  backup: StoreCheckReport;
  /** The current store: null when there is none; its check otherwise (it may be damaged). */
  current: { state: string; events: number; projects: number; ok: boolean } | null;
  /** Where the current store's files are moved, so nothing is destroyed. */
  keptAs: string | null;
}

/** Check a backup and describe what restoring it over `file` would do. */
export async function planRestore(backup: string, file: string): Promise<RestorePlan> {
  if (!existsSync(backup)) throw new VtError('NOT_FOUND', `there is no backup at ${backup}`);
  const check = await checkSqliteStore(resolve(backup));
  if (!check.ok) {
    const bad = check.checks.find((c) => !c.ok)!;
    throw new VtError('BAD_INPUT', `${backup} is not a sound vt store: ${bad.message}`);
  }
  const state = inspectStoreFile(file).state;
  if (state === 'missing') return { backup: check, current: null, keptAs: null };
  let current: RestorePlan['current'];
  try {
    const c = await checkSqliteStore(file);
    current = { state, events: c.events, projects: c.projects, ok: c.ok };
  } catch {
    current = { state: 'damaged', events: 0, projects: 0, ok: false };
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return { backup: check, current, keptAs: `${file}.replaced-${stamp}` };
}

/**
 * Put a backup in place of the store: the current store's files are moved aside (never deleted),
 * the backup is copied beside the store under a temporary name, fsynced and renamed into place.
 */
export async function restoreSqliteStore(backup: string, file: string, plan: RestorePlan): Promise<void> {
  mkdirDurable(dirname(file));
  if (plan.current) await refuseWhileLeased(file);
  const tmp = join(dirname(file), `.${basename(file)}.restore-${process.pid}`);
  try {
    copyFileDurable(backup, tmp);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw classifyFailure(err, { store: file });
  }
  if (plan.keptAs) {
    for (const s of ['', ...SIDE_FILES]) if (existsSync(file + s)) renameSync(file + s, plan.keptAs + s);
  }
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

/** A store an autopilot is working (an unexpired lease) is not replaced under it. */
async function refuseWhileLeased(file: string): Promise<void> {
  let leased: { n: number } | undefined;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      leased = db
        .prepare('select count(*) as n from leases where expires_at > ?')
        .get(new Date().toISOString()) as { n: number } | undefined;
    } finally {
      db.close();
    }
  } catch {
    return; // a damaged store has no autopilot working it
  }
  if (leased && leased.n > 0)
    throw new VtError('CONFLICT', `an autopilot holds ${leased.n} lease(s) on ${file}: it is in use`, {
      hint: 'Stop the autopilots first (vt pause, then wait for their tickets; or vt abort), then restore',
    });
}
