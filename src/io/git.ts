import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { VtError } from '../errors.ts';

// Promisified at first use: a store command that never runs git does not load node:child_process.
let exec: typeof execFile.__promisify__ | undefined;

/** git as found on PATH when vt started: vt's own commits do not depend on the PATH a caller sets later. */
const GIT = (() => {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, 'git');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return 'git';
})();

/**
 * The repository behind a project's workspace: the workspace's own git repository when it is the top
 * of one, else a private bare repository vt keeps in `.vt/repo.git`. Every commit vt records lives in
 * it, so gates can judge exactly what was committed.
 */
export interface Repo {
  /** The folder holding vt.yaml and .vt/. */
  readonly root: string;
  /** The git directory commits live in (shared by every worktree). */
  readonly gitDir: string;
  /** True for the private repository vt made because the workspace is not a git repository. */
  readonly private: boolean;
}

const IDENTITY = [
  '-c',
  'user.name=Value Train',
  '-c',
  'user.email=vt@localhost',
  '-c',
  'commit.gpgsign=false',
];
const repos = new Map<string, Repo>();

/** Run git with vt's identity; a failure is a STORE_ERROR naming the command. */
export async function git(
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; input?: string } = {},
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      exec ??= promisify(execFile);
      const child = exec(GIT, [...IDENTITY, ...args], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...opts.env },
      });
      if (opts.input !== undefined) child.child.stdin?.end(opts.input);
      const { stdout } = await child;
      return stdout;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new VtError('STORE_ERROR', 'git is not installed: vt records every workspace as a git commit', {
          hint: 'Install git (apt-get install git), then run the command again',
        });
      const msg = String((err as { stderr?: string }).stderr || (err as Error).message).trim();
      // Index and ref locks of a concurrent git call are retried briefly.
      if (attempt < 8 && /\.lock'?:? File exists|Unable to create .*\.lock|cannot lock ref/i.test(msg)) {
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
        continue;
      }
      throw new VtError(
        'STORE_ERROR',
        `git ${args.join(' ')} failed: ${msg.split('\n').slice(-3).join(' ')}`,
      );
    }
  }
}

/** The repository behind `root` (made on first use when `root` is not the top of a git repository). */
export async function repoOf(root: string, prefer: 'auto' | 'private' = 'auto'): Promise<Repo> {
  const key = `${prefer}:${root}`;
  const known = repos.get(key);
  if (known) return known;
  let repo: Repo | null = null;
  if (prefer === 'auto') {
    try {
      const top = (await git(['-C', root, 'rev-parse', '--show-toplevel'])).trim();
      if (realpathSync(top) === realpathSync(root)) {
        const common = (
          await git(['-C', root, 'rev-parse', '--path-format=absolute', '--git-common-dir'])
        ).trim();
        repo = { root, gitDir: common, private: false };
      }
    } catch {
      // not a git repository
    }
  }
  if (!repo) {
    const gitDir = join(root, '.vt', 'repo.git');
    if (!existsSync(join(gitDir, 'HEAD'))) {
      // Made aside and renamed into place: another process starting at the same moment sees either
      // no repository or a whole one.
      mkdirSync(join(root, '.vt'), { recursive: true });
      const tmp = `${gitDir}.tmp-${process.pid}-${Date.now()}`;
      await git(['init', '-q', '--bare', tmp]);
      try {
        renameSync(tmp, gitDir);
      } catch {
        rmSync(tmp, { recursive: true, force: true }); // another process made it first
      }
    }
    repo = { root, gitDir, private: true };
  }
  // vt's own state is never part of a snapshot.
  mkdirSync(join(root, '.vt'), { recursive: true });
  const ignore = join(root, '.vt', '.gitignore');
  if (!existsSync(ignore)) writeFileSync(ignore, '*\n');
  repos.set(key, repo);
  return repo;
}

/** `git --git-dir` for the repository, with `folder` as the work tree when given. */
export const at = (repo: Repo, folder?: string) => [
  '--git-dir',
  repo.gitDir,
  ...(folder ? ['--work-tree', folder] : []),
];

/** The commit checked out in `folder` when it is a worktree of `repo`, else the repository's HEAD; null when none. */
async function headOf(repo: Repo, folder: string): Promise<string | null> {
  for (const args of [
    ['-C', folder, 'rev-parse', '--verify', '-q', 'HEAD'],
    [...at(repo), 'rev-parse', '--verify', '-q', 'HEAD'],
  ]) {
    try {
      const common =
        args[0] === '-C'
          ? (await git(['-C', folder, 'rev-parse', '--path-format=absolute', '--git-common-dir'])).trim()
          : repo.gitDir;
      if (realpathSync(common) !== realpathSync(repo.gitDir)) continue;
      return (await git(args)).trim() || null;
    } catch {
      // no HEAD there
    }
  }
  return null;
}

/**
 * Commit what `folder` holds now, on top of what it was checked out from, without moving any branch
 * or touching its index: a temporary index, `add -A` (ignored files stay out, except `force` paths),
 * `write-tree`, `commit-tree`. An unchanged folder returns its parent. The commit is kept from garbage
 * collection under refs/vt/keep/.
 */
export async function snapshot(
  repo: Repo,
  folder: string,
  force: readonly string[],
  message: string,
): Promise<{ commit: string; tree: string }> {
  const tmp = await mkdtemp(join(tmpdir(), 'vt-index-'));
  const env = { GIT_INDEX_FILE: join(tmp, 'index') };
  try {
    const parent = await headOf(repo, folder);
    const base = at(repo, folder);
    if (parent) await git([...base, 'read-tree', parent], { env });
    // Nor is the audit log's folder (audit/ beside vt.yaml): a checkpoint written after an approval
    // must not read as changed evidence.
    await git([...base, 'add', '-A', '--', '.', ':(exclude)audit'], { cwd: folder, env });
    const forced = force.filter((p) => isSafeRelative(p) && existsSync(join(folder, p)));
    if (forced.length) await git([...base, 'add', '-f', '--', ...forced], { cwd: folder, env });
    const tree = (await git([...base, 'write-tree'], { env })).trim();
    if (parent) {
      const parentTree = (await git([...at(repo), 'rev-parse', `${parent}^{tree}`])).trim();
      if (parentTree === tree) return { commit: parent, tree };
    }
    const commit = (
      await git([...at(repo), 'commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message])
    ).trim();
    await git([...at(repo), 'update-ref', `refs/vt/keep/${commit}`, commit]);
    return { commit, tree };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function isSafeRelative(p: string): boolean {
  const n = normalize(p);
  return !!p && !isAbsolute(p) && !n.startsWith('..') && !p.includes('\0');
}

/** A committed file: its hash and size, and its text when asked (only regular files are read). */
export async function readCommitted(
  repo: Repo,
  commit: string,
  path: string,
  wantText: boolean,
): Promise<{ ok: true; sha256: string; size: number; text?: string } | { ok: false; problem: string }> {
  if (!isSafeRelative(path))
    return { ok: false, problem: `${JSON.stringify(path)} is not a path inside the workspace` };
  const rel = normalize(path).split('\\').join('/');
  let entry: string;
  try {
    entry = (await git([...at(repo), 'ls-tree', commit, '--', rel])).trim();
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  if (!entry) return { ok: false, problem: `not in commit ${commit.slice(0, 12)}` };
  const [mode, type, blob] = entry.split(/\s+/);
  if (type !== 'blob' || (mode !== '100644' && mode !== '100755'))
    return { ok: false, problem: `not a regular file in commit ${commit.slice(0, 12)} (mode ${mode})` };
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const child = spawn(GIT, [...at(repo), 'cat-file', 'blob', blob!], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`git cat-file exited ${code}`)),
    );
  });
  return {
    ok: true,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    ...(wantText ? { text: bytes.toString('utf8') } : {}),
  };
}

/** Extract `commit` into a fresh private folder (not a worktree: nothing in it leads back to the repository). */
export async function checkoutCopy(
  repo: Repo,
  commit: string,
): Promise<{ dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vt-checkout-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const archive = spawn(GIT, [...at(repo), 'archive', '--format=tar', commit], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const tar = spawn('tar', ['-x', '-f', '-', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
      archive.stdout.pipe(tar.stdin);
      let err = '';
      archive.stderr.on('data', (d) => {
        err += d;
      });
      tar.stderr.on('data', (d) => {
        err += d;
      });
      let left = 2;
      const done = (code: number | null) => {
        if (code !== 0)
          reject(new VtError('STORE_ERROR', `cannot check out ${commit.slice(0, 12)}: ${err.trim()}`));
        else if (--left === 0) resolve();
      };
      archive.on('close', done);
      tar.on('close', done);
      archive.on('error', reject);
      tar.on('error', reject);
    });
  } catch (e) {
    await dispose();
    throw e;
  }
  return { dir, dispose };
}

/** True when `folder` exists and is a directory. */
export function isDir(folder: string): boolean {
  try {
    return statSync(folder).isDirectory();
  } catch {
    return false;
  }
}

/** Remove a folder, quietly. */
export function removeDir(folder: string): void {
  rmSync(folder, { recursive: true, force: true });
}
