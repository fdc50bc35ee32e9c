import type { Phase, SandboxMode, Train } from '../train/schema.ts';
import type { GateStatus, Json } from '../types.ts';

/** The result of one gate, stored with its evidence. */
export interface GateResult {
  gate: string;
  kind: string;
  status: GateStatus;
  /** One line a person can read: what passed or failed, with the observed values. */
  message: string;
  evidence: { [k: string]: Json };
  children?: GateResult[];
}

/** What a file looks like, as the artifacts gate sees it. */
export type FileObservation =
  | { ok: true; sha256: string; size: number; text?: string }
  | { ok: false; problem: string };

export interface CommandOutcome {
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  outputTail: string;
  /** Why it could not be run at all (a sandbox required but missing, the program not found). */
  problem?: string | undefined;
}

/** An HTTP exchange a gate makes with an outside system (MLflow); the body is read as text. */
export interface HttpExchange {
  request(req: {
    url: string;
    method: 'GET' | 'POST';
    headers: Record<string, string>;
    body?: string;
    timeoutMs: number;
  }): Promise<{ status: number; body: string }>;
  /** A setting from the environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN...). */
  env(name: string): string | undefined;
}

/** The I/O a gate may do, injected so the gates and the engine core stay free of it. */
export interface GateIo {
  /** Reach outside systems over HTTP; absent where gates may not (then such gates are `error`). */
  http?: HttpExchange;
  /** A file as committed in `commit` of the repository behind `workspace`, with its hash; text when asked. */
  readCommitted(
    workspace: string,
    commit: string,
    path: string,
    opts: { wantText: boolean },
  ): Promise<FileObservation>;
  /** A file where it lies in a folder (only for artifacts recorded before commits were). */
  observeFile(workspace: string, path: string, opts: { wantText: boolean }): Promise<FileObservation>;
  /** A fresh, private checkout of `commit` to run a command in; removed by `dispose`. */
  checkout(workspace: string, commit: string): Promise<{ dir: string; dispose(): Promise<void> }>;
  runCommand(
    argv: readonly string[],
    cwd: string,
    timeoutMs: number,
    env: Record<string, string>,
    /** The gate's sandbox setting, and the live project folder it must not see. */
    opts?: { sandbox?: SandboxMode | undefined; project?: string },
  ): Promise<CommandOutcome>;
}

/** The evidence of one visit of a phase: all a gate may judge. */
export interface GateEvidence {
  phase: string;
  /** The project-wide visit number. */
  visit: number;
  /** Which visit of this phase (1, 2, ...). */
  n: number;
  checklist: Readonly<Record<string, { ticked: boolean; actor: string; carriedFrom: number | null }>>;
  artifacts: Readonly<
    Record<
      string,
      {
        path: string;
        workspace: string;
        sha256: string;
        size: number;
        session: string | null;
        commit: string | null;
        carriedFrom: number | null;
      }
    >
  >;
  metrics: Readonly<Record<string, { value: number; carriedFrom: number | null }>>;
  contributors: readonly string[];
  commit: { commit: string; tree: string } | null;
}

export interface GateApproval {
  actor: string;
  phase: string;
  /** The project-wide visit it was given in (absent in callers that predate signatures). */
  visit?: number;
  role: string;
  decision: 'approve' | 'reject';
  reason: string | null;
  digest: string;
  /** When it was recorded, and the person's signature over it (a decision proof, checked by `signatures`). */
  ts?: string;
  proof?: unknown;
}

export interface GateWaiver {
  actor: string;
  reason: string;
  expiresAt: string;
  confirmedBy: string | null;
  /** The first waiver's seq (the one a confirmation names). */
  seq?: number;
  ts?: string;
  proof?: unknown;
  confirmation?: { reason: string; ts: string; proof: unknown } | null;
}

export interface GateContext {
  project: string;
  /** The project's workspace: the repository its commits live in. */
  workspace: string;
  train: Train;
  phase: Phase;
  now: Date;
  io: GateIo;
  /** This visit's evidence. */
  evidence: GateEvidence;
  /** Values for `name@latest` (any phase, any visit) and `name@phase` (that phase's latest visit). */
  metricScopes: {
    latest: Readonly<Record<string, number>>;
    phases: Readonly<Record<string, Readonly<Record<string, number>>>>;
  };
  /** Approvals and rejections of this visit. */
  approvals: readonly GateApproval[];
  /** Waivers of this visit, by gate id. */
  waivers: Readonly<Record<string, GateWaiver>>;
  /**
   * Set when the train requires signed decisions: why a recorded approval or waiver does not count
   * (its signature does not verify, or there is none), or null when it does. The engine supplies it.
   */
  signatures?:
    | {
        approval(a: GateApproval, ctx: GateContext): string | null;
        waiver(gate: string, w: GateWaiver, ctx: GateContext): string | null;
      }
    | undefined;
}
