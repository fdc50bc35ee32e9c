import { existsSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { Checkpointer } from './audit/checkpointer.ts';
import type { Clock, Engine } from './engine/engine.ts';
import type { IntegrationsConfig } from './integrations/config.ts';
import type { Store, StoreOptions } from './store/store.ts';

export const TRAIN_FILE = 'vt.yaml';
export const STATE_DIR = '.vt';

/** Find vt.yaml in `from` or the nearest parent, as git finds .git. */
export function findRoot(from: string): string | null {
  let dir = resolve(from);
  // Inside a ticket's workspace (which holds its own copy of vt.yaml) the root is the one above .vt/.
  const ws = workspaceOf(dir);
  if (ws) return ws.root;
  for (;;) {
    if (existsSync(join(dir, TRAIN_FILE))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

const WORKSPACES = `${sep}${STATE_DIR}${sep}workspaces${sep}`;

/** When `dir` is inside a ticket's workspace: that workspace and the root that holds it. */
export function workspaceOf(dir: string): { root: string; workspace: string } | null {
  const at = `${resolve(dir)}${sep}`.indexOf(WORKSPACES);
  if (at < 0) return null;
  const full = `${resolve(dir)}${sep}`;
  const name = full.slice(at + WORKSPACES.length).split(sep)[0];
  if (!name) return null;
  return { root: full.slice(0, at), workspace: full.slice(0, at + WORKSPACES.length) + name };
}

export function defaultDbPath(root: string): string {
  return join(root, STATE_DIR, 'vt.db');
}

export interface Vt {
  engine: Engine;
  store: Store;
  /** Signs checkpoints of the Merkle log after commits, when an audit folder is configured. */
  checkpointer: Checkpointer | null;
  close(): Promise<void>;
}

/** Where checkpoints go and which key signs them. */
export interface AuditOptions {
  dir: string;
  keyFile: string;
  /** The workspace root the key must stay out of. */
  workspace?: string | null;
  warn: (message: string) => void;
}

/**
 * The one place that wires the store, the machine's I/O and the engine together. The store, the
 * engine and their libraries (Kysely, better-sqlite3, zod) load here, on first use, so commands that
 * need no store (help, completion, lint) start without them.
 */
export async function openVt(
  dbTarget: string,
  opts: StoreOptions & { clock?: Clock; integrations?: IntegrationsConfig; audit?: AuditOptions | null } = {},
): Promise<Vt> {
  const [{ openStore }, { hideFromSandboxes }] = await Promise.all([
    import('./store/store.ts'),
    import('./io/sandbox.ts'),
  ]);
  const store = await openStore(dbTarget, opts);
  hideFromSandboxes(dbTarget);
  const engine = await engineOn(store, opts);
  // Checkpoints follow written events; a read-only store (read commands) writes none.
  const checkpointer =
    opts.audit && !opts.readonly ? await attachCheckpointer(engine, store, opts.audit) : null;
  return {
    engine,
    store,
    checkpointer,
    close: async () => {
      // Checkpoints under way complete before the store closes: never a file half-written.
      await checkpointer?.close();
      await store.close();
    },
  };
}

/** Sign checkpoints of the Merkle log after the engine's commits. */
async function attachCheckpointer(engine: Engine, store: Store, audit: AuditOptions): Promise<Checkpointer> {
  const [{ AuditDir }, { Checkpointer }] = await Promise.all([
    import('./audit/audit-dir.ts'),
    import('./audit/checkpointer.ts'),
  ]);
  const checkpointer = new Checkpointer({ ...audit, store, dir: new AuditDir(audit.dir) });
  engine.onCommitted(checkpointer.onCommitted);
  return checkpointer;
}

/**
 * An engine over an open store, with the machine's I/O and the integrations' outbox rules (none on a
 * read-only store: read commands write no events to act on).
 */
export async function engineOn(
  store: Store,
  opts: { clock?: Clock; integrations?: IntegrationsConfig; readonly?: boolean } = {},
): Promise<Engine> {
  const [{ Engine }, { nodeIo }] = await Promise.all([
    import('./engine/engine.ts'),
    import('./io/node-io.ts'),
  ]);
  const engine = new Engine({ store, io: nodeIo, ...(opts.clock ? { clock: opts.clock } : {}) });
  if (!opts.readonly) {
    const [{ EMPTY_INTEGRATIONS }, { registerIntegrations }] = await Promise.all([
      import('./integrations/config.ts'),
      import('./integrations/register.ts'),
    ]);
    registerIntegrations(engine, opts.integrations ?? EMPTY_INTEGRATIONS);
  }
  return engine;
}
