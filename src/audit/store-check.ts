import Database from 'better-sqlite3';
import { classifyFailure } from '../failures.ts';
import { dumpProjections, PROJECTION_TABLES, rebuildProjections } from '../store/projector.ts';
import { inspectStoreFile } from '../store/sqlite-file.ts';
import { openStore } from '../store/store.ts';
import { verifyStore } from './audit.ts';
import { verifyLog } from './verify-log.ts';

/** One finding of a store check. */
export interface StoreCheck {
  check: 'file' | 'integrity' | 'chains' | 'log' | 'projections' | 'trains';
  ok: boolean;
  message: string;
}

export interface StoreCheckReport {
  store: string;
  ok: boolean;
  events: number;
  projects: number;
  checks: StoreCheck[];
}

/**
 * Check a SQLite store without changing it: the file (empty, truncated, not SQLite), SQLite's own
 * integrity check, every hash chain, the Merkle log, the projections against a rebuild from the events (in a
 * transaction that is rolled back), and that every project's train is stored.
 */
export async function checkSqliteStore(file: string): Promise<StoreCheckReport> {
  const checks: StoreCheck[] = [];
  const report = (events = 0, projects = 0): StoreCheckReport => ({
    store: file,
    ok: checks.every((c) => c.ok),
    events,
    projects,
    checks,
  });
  const f = inspectStoreFile(file);
  if (f.state !== 'ok') {
    const what = {
      missing: 'does not exist',
      empty: 'is empty (0 bytes)',
      'not-sqlite': 'is not a SQLite database',
      truncated: f.state === 'truncated' ? `is truncated (${f.actual} of ${f.expected} bytes)` : '',
    }[f.state];
    checks.push({ check: 'file', ok: false, message: `${file} ${what}` });
    return report();
  }
  checks.push({ check: 'file', ok: true, message: `${file}: ${f.size} bytes` });
  try {
    const raw = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const rows = raw.pragma('integrity_check', { simple: false }) as { integrity_check: string }[];
      const bad = rows.map((r) => r.integrity_check).filter((m) => m !== 'ok');
      checks.push({
        check: 'integrity',
        ok: bad.length === 0,
        message: bad.length
          ? `SQLite integrity check: ${bad.slice(0, 5).join('; ')}`
          : 'SQLite integrity check: ok',
      });
    } finally {
      raw.close();
    }
  } catch (err) {
    const e = classifyFailure(err, { store: file }) as Error;
    checks.push({ check: 'integrity', ok: false, message: e.message });
    return report();
  }
  if (!checks.at(-1)!.ok) return report();
  const store = await openStore(file, { readonly: true });
  try {
    const v = await verifyStore(store.db);
    checks.push({
      check: 'chains',
      ok: v.ok,
      message: v.ok
        ? `${v.checked} events in ${v.projects} chains verify`
        : `event ${v.firstBad?.project_id}#${v.firstBad?.seq} does not verify: ${v.firstBad?.reason}`,
    });
    // The Merkle log the store keeps against one recomputed from its events (no checkpoints here:
    // `vt audit verify` checks those).
    const log = await verifyLog(store.db, { dir: null, key: null });
    checks.push({
      check: 'log',
      ok: log.ok,
      message: log.ok
        ? `the Merkle log ${log.origin} of ${log.size} events matches its events`
        : `the Merkle log: ${log.findings[0]!.message}`,
    });
    const missing = await store.db
      .selectFrom('projects')
      .leftJoin('trains', 'trains.hash', 'projects.train_hash')
      .select(['projects.id', 'trains.hash'])
      .execute();
    const without = missing.filter((r) => !r.hash).map((r) => r.id);
    checks.push({
      check: 'trains',
      ok: without.length === 0,
      message: without.length
        ? `no stored train for ${without.join(', ')} (import again with --train FILE)`
        : 'every project has its train',
    });
    checks.push(await compareProjections(file));
    return report(v.checked, v.projects);
  } finally {
    await store.close();
  }
}

/** Rebuild the projections in a copy held in memory and compare them with the live ones. */
async function compareProjections(file: string): Promise<StoreCheck> {
  const raw = new Database(file, { readonly: true, fileMustExist: true });
  const image = raw.serialize();
  raw.close();
  // The image of a WAL store says "WAL" in its header (bytes 18 and 19), which a database held in
  // memory cannot use: say "rollback journal" instead.
  image[18] = 1;
  image[19] = 1;
  const mem = new Database(image);
  const { Kysely } = await import('kysely');
  const { ImmediateSqliteDialect } = await import('../store/dialects/sqlite.ts');
  const { GroupCommitter } = await import('../store/group-commit.ts');
  const db = new Kysely<import('../store/schema.ts').DB>({ dialect: new ImmediateSqliteDialect(mem) });
  try {
    const live = await dumpProjections(db);
    const group = new GroupCommitter(db);
    await rebuildProjections({ transaction: (fn) => group.run(fn) });
    const rebuilt = await dumpProjections(db);
    const differ = PROJECTION_TABLES.filter((t) => JSON.stringify(live[t]) !== JSON.stringify(rebuilt[t]));
    return {
      check: 'projections',
      ok: differ.length === 0,
      message: differ.length
        ? `projections differ from the events in: ${differ.join(', ')} (fix with: vt admin rebuild)`
        : 'projections match a rebuild from the events',
    };
  } finally {
    await db.destroy();
  }
}
