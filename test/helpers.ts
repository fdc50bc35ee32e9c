import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, Engine } from '../src/engine/engine.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { type LoadedTrain, parseTrain } from '../src/train/loader.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const VT_BIN = join(ROOT, 'bin', 'vt.js');
export const MINI = join(ROOT, 'test', 'fixtures', 'mini.yaml');

const made: string[] = [];
// Temporary folders go when the test process ends (a test file runs in its own process), so a run
// leaves nothing behind. VT_KEEP_TEMP=1 keeps them for a look after a failure.
process.on('exit', () => {
  if (process.env.VT_KEEP_TEMP) return;
  for (const d of made) {
    try {
      rmSync(d, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // a folder still mounted or in use: leave it rather than fail the run
    }
  }
});

/** A new folder under the OS temp dir, removed when the test process exits. */
export function tempDir(prefix = 'vt-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

let configHome: string | null = null;
/**
 * Subprocesses get their own config folder (where `vt init` makes the log key), never the user's:
 * one per test process, removed when it exits.
 */
export function testConfigEnv(): Record<string, string> {
  if (!configHome) {
    const dir = tempDir('vt-config-');
    configHome = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return { XDG_CONFIG_HOME: configHome, VT_LOG_KEY_FILE: '' };
}

let tmpHome: string | null = null;
/**
 * A temporary folder for subprocesses a test may kill: vt removes its own temporary folders (a
 * session's socket folder, a snapshot's git index) when it ends, but not when it is SIGKILLed. With
 * TMPDIR here they go with this test process's folders.
 */
export function testTmpEnv(): Record<string, string> {
  tmpHome ??= tempDir('vt-tmp-');
  return { TMPDIR: tmpHome };
}

/** Remove a folder this test made outside tempDir() when the test process exits. */
export function removeAtExit(dir: string): string {
  made.push(dir);
  return dir;
}

export function miniTrain(): LoadedTrain {
  return parseTrain(readFileSync(MINI, 'utf8'), MINI);
}

/** A clock the test moves by hand. */
export class TestClock implements Clock {
  t: number;
  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.t = start;
  }
  now(): Date {
    this.t += 1000;
    return new Date(this.t);
  }
}

/**
 * The backend of the describeOnBackends block running now (test/pg.ts sets it). Kept here, not in
 * test/pg.ts, so that runVt need not load the PostgreSQL driver to ask.
 */
export const testBackend: { current: 'sqlite' | 'postgres' } = { current: 'sqlite' };

/**
 * A fresh store and engine in a temp workspace holding the mini train: SQLite, or a new PostgreSQL
 * database inside describeOnBackends (test/pg.ts) or with `backend: 'postgres'`.
 */
export async function freshEngine(
  opts: { synchronous?: 'FULL' | 'NORMAL'; backend?: 'sqlite' | 'postgres' } = {},
): Promise<{
  dir: string;
  store: Store;
  engine: Engine;
  train: LoadedTrain;
  clock: TestClock;
  /** The store's path or URL. */
  target: string;
}> {
  const dir = tempDir();
  cpSync(MINI, join(dir, 'vt.yaml'));
  const pg = await import('./pg.ts');
  const backend = opts.backend ?? testBackend.current;
  const target = backend === 'postgres' ? await pg.freshPgUrl() : join(dir, '.vt', 'vt.db');
  // The CLI run in this folder (runVt) uses this store too, as it would the folder's .vt/vt.db.
  if (backend === 'postgres') folderDatabases.set(resolve(dir), Promise.resolve(target));
  const store = await openStore(target, { synchronous: opts.synchronous ?? 'NORMAL' });
  const clock = new TestClock();
  const engine = new Engine({ store, io: nodeIo, clock });
  return { dir, store, engine, train: miniTrain(), clock, target };
}

export function writeFile(dir: string, rel: string, text: string): void {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), text);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
}

const folderDatabases = new Map<string, Promise<string>>();
/**
 * On PostgreSQL, the commands a test runs in one folder share a fresh database of their own, as they
 * would share the folder's .vt/vt.db on SQLite (VT_DATABASE_URL); a folder inside one that has a
 * database uses that one, as vt finds the vt.yaml of a parent folder. A test that names its store
 * keeps it.
 */
export async function backendEnv(cwd: string, env?: Record<string, string>): Promise<Record<string, string>> {
  if (testBackend.current !== 'postgres' || env?.VT_DATABASE_URL !== undefined) return {};
  const key = resolve(cwd);
  let url: Promise<string> | undefined;
  for (let d = key; !url; d = dirname(d)) {
    url = folderDatabases.get(d);
    if (d === dirname(d)) break;
  }
  if (!url) {
    url = import('./pg.ts').then((pg) => pg.freshPgUrl());
    folderDatabases.set(key, url);
  }
  return { VT_DATABASE_URL: await url };
}

/** The store the commands run in `dir` use: its .vt/vt.db, or its database on PostgreSQL. */
export async function folderStore(dir: string): Promise<string> {
  return (await backendEnv(dir)).VT_DATABASE_URL ?? join(dir, '.vt', 'vt.db');
}

/** Forget the folders' databases (test/pg.ts drops them after each describeOnBackends block). */
export function forgetFolderDatabases(): void {
  folderDatabases.clear();
}

/** Run the real CLI as a subprocess (on PostgreSQL inside a describeOnBackends block). */
export async function runVt(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; input?: string },
): Promise<RunResult> {
  const backend = await backendEnv(opts.cwd, opts.env);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [VT_BIN, ...args], {
      cwd: opts.cwd,
      env: {
        ...process.env,
        NO_COLOR: '1',
        VT_SQLITE_SYNCHRONOUS: 'NORMAL',
        ...testConfigEnv(),
        ...backend,
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, stdout, stderr, signal }));
    child.stdin.end(opts.input ?? '');
  });
}

/** A train of `n` phases, each worked by a command executor running test/fixtures/step.ts. */
export function autoTrainYaml(n: number, opts: { approvalAt?: number; humanAt?: number } = {}): string {
  const step = join(ROOT, 'test', 'fixtures', 'step.ts');
  const ids = Array.from({ length: n }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);
  const metrics = ids.map((id) => `  - { id: m_${id} }`).join('\n');
  const phases = ids
    .map((id, i) => {
      const gates = [
        '        - { id: done, kind: checklist }',
        '        - { id: files, kind: artifacts }',
        `        - { id: measured, kind: metric, expr: "m_${id} > 0" }`,
        ...(opts.approvalAt === i + 1 ? ['        - { id: signed, kind: approval, role: lead }'] : []),
      ];
      return [
        `  - id: ${id}`,
        `    name: Phase ${i + 1}`,
        '    stage: delivery',
        `    owner: ${opts.humanAt === i + 1 ? 'person' : 'worker'}`,
        '    checklist: [{ id: done, text: Work done }]',
        `    artifacts: [{ id: out, path: out/${id}.txt }]`,
        `    metrics: [m_${id}]`,
        '    gates:',
        '      exit:',
        ...gates,
        `    next: ${ids[i + 1] ?? 'null'}`,
      ].join('\n');
    })
    .join('\n');
  return `version: 1
name: auto
roles:
  - id: worker
    name: Worker
    executor: { kind: command, run: ["{node}", "${step}"], timeout_s: 60 }
  - { id: person, name: Person }
  - { id: lead, name: Lead }
metrics:
${metrics}
people:
  lead-1: [lead]
phases:
${phases}
`;
}

/** A running subprocess whose output is collected: for tests that kill it, or run several at once. */
export function spawnCollect(
  argv: string[],
  opts: { cwd?: string; env?: Record<string, string>; prefix?: string[] } = {},
) {
  // `prefix` runs Node under another program (e.g. faketime).
  const [cmd, ...pre] = opts.prefix?.length ? opts.prefix : [process.execPath];
  const child = spawn(cmd!, opts.prefix?.length ? [...pre, process.execPath, ...argv] : argv, {
    cwd: opts.cwd,
    env: { ...process.env, ...testConfigEnv(), ...testTmpEnv(), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  let closed = false;
  const done = new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.on('close', (code, signal) => {
      closed = true;
      r({ code, signal });
    }),
  );
  /** Resolve once `ready(stdout)` holds; reject if the process ends first or `limitMs` passes. */
  const waitFor = (ready: (stdout: string) => boolean, limitMs: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (ready(out)) return finish();
        if (closed) finish(new Error(`the process ended before it was ready:\n${err}`));
      };
      const timer = setTimeout(() => finish(new Error(`not ready after ${limitMs} ms:\n${err}`)), limitMs);
      const finish = (e?: Error) => {
        clearTimeout(timer);
        child.stdout.off('data', check);
        child.off('close', check);
        if (e) reject(e);
        else resolve();
      };
      child.stdout.on('data', check);
      child.on('close', check);
      check();
    });
  return { child, done, waitFor, out: () => out, err: () => err };
}

/** A file's text as committed in the repository behind `root` (vt's private one when `root` is not a git repository). */
export async function committedText(root: string, commit: string, path: string): Promise<string> {
  const { readCommitted, repoOf } = await import('../src/io/git.ts');
  const r = await readCommitted(await repoOf(root), commit, path, true);
  if (!r.ok) throw new Error(`${path} at ${commit}: ${r.problem}`);
  return r.text ?? '';
}
