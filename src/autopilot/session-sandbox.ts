import { join } from 'node:path';
import { agentHomeOf, gitDirOf, type SandboxPlace, storePaths } from '../io/sandbox.ts';
import { postgresMarkOf } from '../store/postgres-mark.ts';
import type { ExecutorSpec, SandboxMode } from '../train/schema.ts';

/**
 * What a session's executor sees in its sandbox: its worktree, its session folder (prompt, MCP
 * configuration, report) and its socket's folder writable; the project folder, the handoff packet,
 * vt's launcher and the git repository read-only; vt's state (.vt/: the store, other sessions'
 * worktrees, logs) and the store's folder hidden, but for the mark of a PostgreSQL store (so a `vt`
 * inside with its variables stripped stops there instead of starting a store of its own); of the home
 * folder, only the agent CLI's own.
 */
export function sessionSandbox(x: {
  spec: Extract<ExecutorSpec, { kind: 'command' | 'cli-agent' }>;
  /** The train's default. */
  trainMode: SandboxMode | undefined;
  session: string;
  root: string;
  workspace: string;
  sessionDir: string;
  socketDir: string | null;
  handoff: string;
  binDir: string;
  dbTarget: string;
}): SandboxPlace {
  const git = gitDirOf(x.workspace);
  const mark = postgresMarkOf(x.root);
  return {
    mode: x.spec.sandbox ?? x.trainMode,
    what: `the ${x.spec.kind} executor of session ${x.session}`,
    writable: [x.workspace, x.sessionDir, ...(x.socketDir ? [x.socketDir] : [])],
    visible: [x.root],
    readable: [x.handoff, x.binDir, ...(git ? [git] : []), ...(mark ? [mark] : [])],
    hidden: [join(x.root, '.vt'), ...storePaths(x.dbTarget)],
    agentHome: x.spec.kind === 'cli-agent' ? agentHomeOf(x.spec.preset) : [],
  };
}
