import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TicketState } from '../engine/state.ts';
import { VtError } from '../errors.ts';
import { at, git, type Repo, repoOf, snapshot } from '../io/git.ts';

/**
 * Where sessions do their work: one git worktree per session (never shared with another session of
 * the same ticket), in the workspace's own repository or, outside git, in a private one vt keeps.
 * A session ends by committing; only after the engine has recorded that commit does the ticket's
 * branch move to it.
 */
export interface Workspaces {
  readonly kind: 'git' | 'private';
  /**
   * A worktree for `name` (a session id, or a human ticket's folder), checked out at where the ticket
   * starts: its base branch, else the project's line. An existing one is reused after a crash; with
   * `clean` it is first put back to that start.
   */
  prepare(
    projectId: string,
    ticket: TicketState,
    name: string,
    opts?: { clean?: boolean; start?: string | null },
  ): Promise<string>;
  /** Commit what the worktree holds (ignored files stay out, except `force` paths); moves no branch. */
  commit(path: string, force: readonly string[], message: string): Promise<{ commit: string; tree: string }>;
  /** Point the ticket's branch at a commit the engine recorded. */
  publish(ticket: TicketState, commit: string): Promise<void>;
  /** Bring a finished ticket's work into the project's line (vt/<project>), when it continues it. */
  integrate(projectId: string, ticket: TicketState): Promise<boolean>;
  /** Remove a worktree that is no longer needed. */
  remove(path: string): Promise<void>;
}

export const workspaceDir = (root: string, name: string) =>
  join(root, '.vt', 'workspaces', name.replaceAll('/', '__'));

/** Worktrees in `root`'s own repository when it is one, else in vt's private repository (`folder`). */
export async function openWorkspaces(
  root: string,
  prefer: 'auto' | 'git' | 'folder' = 'auto',
): Promise<Workspaces> {
  const repo = await repoOf(root, prefer === 'folder' ? 'private' : 'auto');
  if (prefer === 'git' && repo.private)
    throw new VtError('BAD_INPUT', `${root} is not a git repository with a commit`, {
      hint: 'git init && git commit, or use folders',
    });
  if (!repo.private) {
    try {
      await git([...at(repo), 'rev-parse', '--verify', '--quiet', 'HEAD']);
    } catch {
      if (prefer === 'git')
        throw new VtError('BAD_INPUT', `${root} is a git repository with no commit yet`, {
          hint: 'git commit, or use folders',
        });
    }
  }
  return new GitWorkspaces(repo);
}

class GitWorkspaces implements Workspaces {
  readonly kind: 'git' | 'private';
  readonly #repo: Repo;
  readonly #lines = new Set<string>();
  constructor(repo: Repo) {
    this.#repo = repo;
    this.kind = repo.private ? 'private' : 'git';
  }

  #git(args: string[], cwd?: string) {
    return git(cwd ? ['-C', cwd, ...args] : [...at(this.#repo), ...args]);
  }

  async #exists(ref: string): Promise<boolean> {
    try {
      await this.#git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  }

  /** The project's line: where its finished work accumulates. Starts at HEAD, or a snapshot of the root. */
  async #line(projectId: string): Promise<string> {
    const line = `vt/${projectId}`;
    if (this.#lines.has(line)) return line;
    if (!(await this.#exists(`refs/heads/${line}`))) {
      const start = (await this.#exists('HEAD'))
        ? (await this.#git(['rev-parse', 'HEAD'])).trim()
        : (await snapshot(this.#repo, this.#repo.root, [], `vt: ${projectId} starts from this folder`))
            .commit;
      await this.#git(['update-ref', `refs/heads/${line}`, start]).catch(() => {});
    }
    this.#lines.add(line);
    return line;
  }

  async #start(projectId: string, ticket: TicketState, start: string | null | undefined): Promise<string> {
    if (start) return (await this.#git(['rev-parse', `${start}^{commit}`])).trim();
    const from =
      ticket.base && (await this.#exists(`refs/heads/${ticket.base}`))
        ? `refs/heads/${ticket.base}`
        : `refs/heads/${await this.#line(projectId)}`;
    return (await this.#git(['rev-parse', `${from}^{commit}`])).trim();
  }

  async prepare(
    projectId: string,
    ticket: TicketState,
    name: string,
    opts: { clean?: boolean; start?: string | null } = {},
  ): Promise<string> {
    const path = workspaceDir(this.#repo.root, name);
    const start = await this.#start(projectId, ticket, opts.start);
    if (existsSync(join(path, '.git'))) {
      // A crashed worker's worktree for the same name: whole and ours, reuse it.
      const ours = await this.#git(['rev-parse', '--path-format=absolute', '--git-common-dir'], path).catch(
        () => '',
      );
      if (ours.trim()) {
        const gitDir = (await this.#git(['rev-parse', '--absolute-git-dir'], path)).trim();
        rmSync(join(gitDir, 'index.lock'), { force: true });
        if (opts.clean) {
          await this.#git(['reset', '-q', '--hard', start], path);
          await this.#git(['clean', '-q', '-f', '-d', '-x'], path);
        }
        return path;
      }
    }
    rmSync(path, { recursive: true, force: true });
    const add = () => this.#git(['worktree', 'add', '-q', '--detach', '--', path, start]);
    try {
      await add();
    } catch {
      // A worktree registered by a killed worker whose folder is gone blocks the path: prune, retry.
      await this.#git(['worktree', 'prune']);
      await add();
    }
    return path;
  }

  commit(path: string, force: readonly string[], message: string) {
    return snapshot(this.#repo, path, force, message);
  }

  async publish(ticket: TicketState, commit: string): Promise<void> {
    await this.#git(['update-ref', `refs/heads/${ticket.branch}`, commit]);
  }

  async integrate(projectId: string, ticket: TicketState): Promise<boolean> {
    const line = await this.#line(projectId);
    if (!(await this.#exists(`refs/heads/${ticket.branch}`))) return false;
    try {
      await this.#git(['merge-base', '--is-ancestor', `refs/heads/${line}`, `refs/heads/${ticket.branch}`]);
    } catch {
      return false; // the line moved elsewhere: leave the branch for review
    }
    const tip = (await this.#git(['rev-parse', `refs/heads/${ticket.branch}`])).trim();
    await this.#git(['update-ref', `refs/heads/${line}`, tip]);
    return true;
  }

  async remove(path: string): Promise<void> {
    await this.#git(['worktree', 'remove', '--force', '--', path]).catch(() => {});
    rmSync(path, { recursive: true, force: true });
    await this.#git(['worktree', 'prune']).catch(() => {});
  }
}
