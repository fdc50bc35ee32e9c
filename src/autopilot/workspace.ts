import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TicketState } from '../engine/state.ts';
import { VtError } from '../errors.ts';

const exec = promisify(execFile);

/** Where tickets do their work: a git worktree per ticket, or a plain folder outside git. */
export interface Workspaces {
  readonly kind: 'git' | 'folder';
  /**
   * Create (or reuse, after a crash) the ticket's workspace; returns its absolute path. With
   * `clean`, an existing workspace is first put back to where the ticket started, so an executor
   * re-run after a crash or a failed attempt starts from exactly what the first run started from.
   */
  prepare(projectId: string, ticket: TicketState, opts?: { clean?: boolean }): Promise<string>;
  /** Record a successful step: a commit on the ticket's branch (git), nothing for folders. */
  commit(path: string, message: string): Promise<string | null>;
  /** Bring a finished ticket's work into the project's line (vt/<project>), when it continues it. */
  integrate(projectId: string, ticket: TicketState): Promise<boolean>;
}

export const workspaceDir = (root: string, ticket: TicketState) =>
  join(root, '.vt', 'workspaces', ticket.branch.replaceAll('/', '__'));

const SKIP = new Set(['.vt', '.git', 'node_modules']);

/** Pick git worktrees when `root` is a git work tree with a commit, else plain folders. */
export async function openWorkspaces(
  root: string,
  prefer: 'auto' | 'git' | 'folder' = 'auto',
): Promise<Workspaces> {
  mkdirSync(join(root, '.vt'), { recursive: true });
  const ignore = join(root, '.vt', '.gitignore');
  if (!existsSync(ignore)) writeFileSync(ignore, '*\n');
  if (prefer !== 'folder') {
    // Only a repository whose top is `root` itself: a folder nested in someone else's repository
    // would branch off that repository's files.
    const git = await gitRoot(root);
    if (git && realpathSync(git) === realpathSync(root)) return new GitWorkspaces(root);
    if (prefer === 'git')
      throw new VtError('BAD_INPUT', `${root} is not a git repository with a commit`, {
        hint: 'git init && git commit, or use folders',
      });
  }
  return new FolderWorkspaces(root);
}

async function gitRoot(root: string): Promise<string | null> {
  try {
    const { stdout } = await exec('git', ['-C', root, 'rev-parse', '--show-toplevel'], { encoding: 'utf8' });
    await exec('git', ['-C', root, 'rev-parse', '--verify', '--quiet', 'HEAD']);
    return stdout.trim();
  } catch {
    return null;
  }
}

/**
 * A git process killed mid-write leaves its lock file behind, and every later git call would fail.
 * A lock older than a few seconds has no live writer (git holds locks for milliseconds): remove it.
 */
function clearStaleLock(message: string): void {
  const m = /'([^']+\.lock)'/.exec(message);
  if (!m) return;
  try {
    if (Date.now() - statSync(m[1]!).mtimeMs > 5000) rmSync(m[1]!, { force: true });
  } catch {
    // gone already
  }
}

const IDENTITY = [
  '-c',
  'user.name=Value Train',
  '-c',
  'user.email=vt@localhost',
  '-c',
  'commit.gpgsign=false',
];

class GitWorkspaces implements Workspaces {
  readonly kind = 'git' as const;
  readonly #root: string;
  constructor(root: string) {
    this.#root = root;
  }

  /** Run git; index and ref locks from a concurrent git call are retried briefly. */
  async #git(args: string[], cwd = this.#root): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        const { stdout } = await exec('git', ['-C', cwd, ...IDENTITY, ...args], {
          encoding: 'utf8',
          maxBuffer: 16 << 20,
        });
        return stdout;
      } catch (err) {
        const msg = String((err as { stderr?: string }).stderr ?? (err as Error).message);
        if (attempt < 8 && /\.lock'?:? File exists|Unable to create .*\.lock|cannot lock ref/i.test(msg)) {
          clearStaleLock(msg);
          await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
          continue;
        }
        throw new VtError(
          'STORE_ERROR',
          `git ${args.join(' ')} failed: ${msg.trim().split('\n').slice(-3).join(' ')}`,
        );
      }
    }
  }

  async #branchExists(branch: string): Promise<boolean> {
    try {
      await this.#git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]);
      return true;
    } catch {
      return false;
    }
  }

  readonly #lines = new Set<string>();

  async #line(projectId: string): Promise<string> {
    const line = `vt/${projectId}`;
    if (this.#lines.has(line)) return line;
    if (!(await this.#branchExists(line))) await this.#git(['branch', '--', line, 'HEAD']).catch(() => {});
    this.#lines.add(line);
    return line;
  }

  async prepare(projectId: string, ticket: TicketState, opts: { clean?: boolean } = {}): Promise<string> {
    const path = workspaceDir(this.#root, ticket);
    if (existsSync(join(path, '.git'))) {
      // Reuse a worktree a crashed worker left, if it is whole and on the ticket's branch.
      const head = await this.#git(['rev-parse', '--abbrev-ref', 'HEAD'], path).catch(() => '');
      if (head.trim() === ticket.branch) {
        // Only the lease holder works here, so an index lock is a crashed predecessor's.
        const gitDir = (await this.#git(['rev-parse', '--absolute-git-dir'], path)).trim();
        rmSync(join(gitDir, 'index.lock'), { force: true });
        if (opts.clean) {
          // Back to where the ticket's branch started: a re-run must not see an earlier run's output
          // (a step that promotes a model would find it promoted already).
          const base =
            ticket.base && (await this.#branchExists(ticket.base))
              ? ticket.base
              : await this.#line(projectId);
          const start = (await this.#git(['merge-base', 'HEAD', base], path)).trim();
          await this.#git(['reset', '-q', '--hard', start], path);
          await this.#git(['clean', '-q', '-f', '-d', '-x'], path);
        }
        return path;
      }
      rmSync(path, { recursive: true, force: true });
    } else if (existsSync(path)) rmSync(path, { recursive: true, force: true });
    const add = async () => {
      if (await this.#branchExists(ticket.branch))
        await this.#git(['worktree', 'add', '--', path, ticket.branch]);
      else {
        const base =
          ticket.base && (await this.#branchExists(ticket.base)) ? ticket.base : await this.#line(projectId);
        await this.#git(['worktree', 'add', '-b', ticket.branch, '--', path, base]);
      }
    };
    try {
      await add();
    } catch {
      // A worktree registered by a killed worker whose folder is gone blocks the path: prune, retry.
      await this.#git(['worktree', 'prune']);
      await add();
    }
    return path;
  }

  async commit(path: string, message: string): Promise<string | null> {
    await this.#git(['add', '-A'], path);
    const staged = await this.#git(['diff', '--cached', '--name-only'], path);
    if (!staged.trim()) return null;
    await this.#git(['commit', '-q', '-m', message], path);
    return (await this.#git(['rev-parse', 'HEAD'], path)).trim();
  }

  async integrate(projectId: string, ticket: TicketState): Promise<boolean> {
    const line = await this.#line(projectId);
    try {
      await this.#git(['merge-base', '--is-ancestor', line, ticket.branch]);
    } catch {
      return false; // the line moved elsewhere: leave the branch for review
    }
    const tip = (await this.#git(['rev-parse', `refs/heads/${ticket.branch}`])).trim();
    await this.#git(['update-ref', `refs/heads/${line}`, tip]);
    return true;
  }
}

class FolderWorkspaces implements Workspaces {
  readonly kind = 'folder' as const;
  readonly #root: string;
  constructor(root: string) {
    this.#root = root;
  }

  async prepare(_projectId: string, ticket: TicketState, opts: { clean?: boolean } = {}): Promise<string> {
    const path = workspaceDir(this.#root, ticket);
    if (existsSync(path) && !opts.clean) return path;
    // A folder has no commit to return to: a clean start is a fresh copy of where it started from.
    rmSync(path, { recursive: true, force: true });
    const baseDir = ticket.base
      ? join(this.#root, '.vt', 'workspaces', ticket.base.replaceAll('/', '__'))
      : null;
    const from = baseDir && existsSync(baseDir) ? baseDir : this.#root;
    // Copy to a temporary folder and rename, so a crash never leaves half a workspace.
    const tmp = `${path}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    // Entry by entry: the workspaces live inside the root, which cpSync refuses to copy whole.
    for (const entry of readdirSync(from)) {
      if (from === this.#root && SKIP.has(entry)) continue;
      cpSync(join(from, entry), join(tmp, entry), { recursive: true });
    }
    renameSync(tmp, path);
    return path;
  }

  async commit(): Promise<string | null> {
    return null;
  }

  async integrate(): Promise<boolean> {
    return true;
  }
}
