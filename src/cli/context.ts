import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { AUDIT_DIR } from '../audit/audit-dir.ts';
import { logKeyFile } from '../audit/log-key.ts';
import { VtError } from '../errors.ts';
import { ancestry } from '../io/ancestry.ts';
import { postgresMarkOf } from '../store/postgres-mark.ts';
import { sessionOfProcesses } from '../store/session-processes.ts';
import { type AuditOptions, defaultDbPath, findRoot, type Vt } from '../wiring.ts';
import { type Io, useColor } from './output.ts';
import { type SessionEnv, sessionEnv } from './session-client.ts';

/** Options every command accepts. */
export interface GlobalOptions {
  db?: string;
  as?: string;
  json?: boolean;
  color?: boolean;
  dir?: string;
  idempotencyKey?: string;
  synchronous?: 'FULL' | 'NORMAL';
  /** Times in UTC instead of the local zone. */
  utc?: boolean;
}

/**
 * What a command handler gets: where to write, who acts, and a store opened on first use — read-only
 * for read commands (`ctx.vt({ readonly: true })`: no migration, no write lock, a read-only file can
 * be read), for writing otherwise.
 */
export class CliContext {
  readonly io: Io;
  readonly opts: GlobalOptions;
  #vt: Vt | null = null;
  #readonly = false;
  /** The store's path once it was looked up, for error messages. */
  storeLocation: string | null = null;
  constructor(io: Io, opts: GlobalOptions) {
    this.io = io;
    this.opts = opts;
    // Times are shown and read in the local zone; --utc makes the process's zone UTC.
    if (opts.utc) process.env.TZ = 'UTC';
  }
  get color(): boolean {
    return useColor(this.io, this.opts.color);
  }
  get json(): boolean {
    return !!this.opts.json;
  }
  get cwd(): string {
    return resolve(this.opts.dir ?? '.');
  }
  /** Flags, then VT_ACTOR, then the login name. */
  get actor(): string {
    const a = this.opts.as ?? this.io.env.VT_ACTOR ?? safeUser();
    if (!/^[\w.@:+-]{1,64}$/.test(a))
      throw new VtError(
        'BAD_INPUT',
        `"${a}" is not a usable actor name: letters, digits and . @ : + - _ only`,
      );
    return a;
  }
  /**
   * Who acts. Inside an executor every call is bound to its session: by VT_SESSION, or — when the
   * environment was stripped — by the executor's process being among this process's ancestors.
   */
  get who(): {
    actor: string;
    idempotencyKey: string | null;
    session: string | null;
    request: string | null;
  } {
    const idempotencyKey = this.opts.idempotencyKey ?? this.io.env.VT_IDEMPOTENCY_KEY ?? null;
    const request = this.request;
    if (this.#detected) return { ...this.#detected, idempotencyKey, request };
    const session = this.io.env.VT_SESSION || null;
    return {
      actor: session ? (this.io.env.VT_ACTOR ?? this.actor) : this.actor,
      idempotencyKey,
      session,
      request,
    };
  }
  /** The command line that was run (set by the command wrapper): what an idempotency key stands for. */
  request: string | null = null;
  #detected: { actor: string; session: string } | null = null;
  /** Inside an executor: the session's socket (vt reaches its session only through it), else null. */
  session(): SessionEnv | null {
    return sessionEnv(this.io.env);
  }
  /** The folder holding vt.yaml (searched upwards), or null. */
  root(): string | null {
    return findRoot(this.cwd);
  }
  requireRoot(): string {
    const r = this.root();
    if (!r)
      throw new VtError('NOT_FOUND', `no vt.yaml in ${this.cwd} or any parent folder`, {
        hint: 'Create one with: vt init',
      });
    return r;
  }
  dbTarget(): string {
    const fromEnv = this.opts.db ?? this.io.env.VT_DATABASE_URL;
    if (fromEnv) return fromEnv;
    const root = this.requireRoot();
    const mark = postgresMarkOf(root);
    if (mark)
      throw new VtError(
        'NOT_FOUND',
        `the store of ${root} is on PostgreSQL, and VT_DATABASE_URL is not set`,
        {
          hint: `Set VT_DATABASE_URL=postgres://… (or pass --db) as for vt init there; if the store moved to .vt/vt.db, delete ${mark}`,
        },
      );
    return defaultDbPath(root);
  }
  get utc(): boolean {
    return !!this.opts.utc;
  }
  async vt(opts: { readonly?: boolean } = {}): Promise<Vt> {
    // A write after a read in the same command reopens the store for writing.
    if (this.#vt && this.#readonly && !opts.readonly) await this.close();
    if (!this.#vt) {
      const sync =
        this.opts.synchronous ??
        (this.io.env.VT_SQLITE_SYNCHRONOUS?.toUpperCase() as 'FULL' | 'NORMAL' | undefined);
      if (sync && sync !== 'FULL' && sync !== 'NORMAL')
        throw new VtError('BAD_INPUT', `VT_SQLITE_SYNCHRONOUS must be FULL or NORMAL, not ${sync}`);
      const target = this.dbTarget();
      this.storeLocation = target;
      const { openVt } = await import('../wiring.ts');
      // Integrations turn written events into outbox entries: a read-only store writes none.
      const integrations = opts.readonly
        ? undefined
        : await (await import('../integrations/config.ts')).loadIntegrations(this.root(), this.io.env);
      this.#vt = await openVt(target, {
        ...(sync ? { synchronous: sync } : {}),
        readonly: !!opts.readonly,
        ...(integrations ? { integrations } : {}),
        audit: opts.readonly ? null : this.audit(),
      });
      this.#readonly = !!opts.readonly;
      this.storeLocation = this.#vt.store.location;
      const found = await sessionOfProcesses(this.#vt.store.db, hostname(), ancestry());
      if (found) this.#detected = { actor: found.actor, session: found.session };
    }
    return this.#vt;
  }
  /** The audit folder (VT_AUDIT_DIR, else audit/ beside vt.yaml) and the log key; null without either. */
  audit(): AuditOptions | null {
    const root = this.root();
    const env = this.io.env.VT_AUDIT_DIR;
    const dir = env ? resolve(this.cwd, env) : root ? join(root, AUDIT_DIR) : null;
    if (!dir) return null;
    return { dir, keyFile: logKeyFile(this.io.env), workspace: root, warn: (m) => this.io.err(m) };
  }
  async close(): Promise<void> {
    await this.#vt?.close();
    this.#vt = null;
  }
}

function safeUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}
