import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { autoTrainYaml, spawnCollect, tempDir, VT_BIN } from './helpers.ts';

/**
 * A git folder with vt.yaml (the autopilot test train of `phases` phases) and a store at `target`
 * (a SQLite path or a PostgreSQL URL) holding the projects, with issue i of each project at phase
 * i mod phases: every project walks the whole train once, one ticket per issue.
 */
export async function queueWork(
  target: string | ((dir: string) => string),
  o: { phases: number; projects: string[]; issuesPerProject: number },
) {
  const dir = tempDir('vt-worker-');
  dirs.add(dir);
  const yaml = autoTrainYaml(o.phases);
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  const g = (...a: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { stdio: 'ignore' });
  g('init', '-q');
  g('add', '-A');
  g('commit', '-qm', 'init');
  const db = typeof target === 'string' ? target : target(dir);
  const store = await openStore(db);
  const engine = new Engine({ store, io: nodeIo });
  const tickets = new Tickets(engine);
  const train = parseTrain(yaml, join(dir, 'vt.yaml'));
  const ids = train.train.phases.map((p) => p.id);
  for (const name of o.projects) {
    await engine.createProject({ name, workspace: dir, train }, { actor: 'lead-1' });
    for (let i = 0; i < o.issuesPerProject; i++)
      await tickets.addIssue(
        name,
        { title: `work ${i + 1}`, phase: ids[i % ids.length] },
        { actor: 'lead-1' },
      );
  }
  await store.close();
  return { dir, db };
}

/** A `vt worker --json` process on the store `db`, with a health file; progress is read from stdout. */
export function startWorker(
  dir: string,
  db: string,
  name: string,
  args: string[] = [],
  env: Record<string, string> = {},
  prefix: string[] = [],
) {
  const health = join(dir, `${name}.health.json`);
  const argv = [VT_BIN, 'worker', '--json', '--name', name, '--health-file', health, ...args];
  const w = spawnCollect(argv, {
    cwd: dir,
    env: { VT_DATABASE_URL: db, NO_COLOR: '1', VT_SQLITE_SYNCHRONOUS: 'NORMAL', ...env },
    prefix,
  });
  running.add(w.child);
  void w.done.then(() => running.delete(w.child));
  return {
    ...w,
    name,
    health: () => (existsSync(health) ? JSON.parse(readFileSync(health, 'utf8')) : null),
    /** Progress events of one type this worker printed so far. */
    events: (type: string) =>
      w
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .filter((e) => e.type === type),
  };
}

export type Worker = ReturnType<typeof startWorker>;

const running = new Set<ChildProcess>();
const dirs = new Set<string>();

/** SIGKILL, by PID, every worker this file started that is still running (after a failed test). */
export function killWorkers(): void {
  for (const c of running) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {}
    }
  }
  running.clear();
}

/** Remove the folders queueWork made (a passing test removes its own; this catches a failing one's). */
export function removeWorkDirs(): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 5 });
  dirs.clear();
}

/** Wait (bounded) until `ok()` holds, checking every `everyMs`. */
export async function until(
  ok: () => boolean | Promise<boolean>,
  limitMs: number,
  what: string | (() => string),
  everyMs = 50,
) {
  const end = Date.now() + limitMs;
  while (!(await ok())) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Events of a type, with their payloads, in commit order. */
export async function eventsOf(db: string, type?: string) {
  const store = await openStore(db);
  try {
    let q = store.db
      .selectFrom('events')
      .select(['project_id', 'seq', 'gseq', 'type', 'payload', 'actor'])
      .orderBy('gseq');
    if (type) q = q.where('type', '=', type);
    const rows = await q.execute();
    return rows.map((r) => ({ ...r, p: JSON.parse(r.payload) }));
  } finally {
    await store.close();
  }
}
