import type { ProjectState } from '../engine/state.ts';
import type { Phase, Train } from '../train/schema.ts';
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

/** What a file looks like now, as the artifacts gate sees it. */
export type FileObservation =
  | { ok: true; sha256: string; size: number; text?: string }
  | { ok: false; problem: string };

export interface CommandOutcome {
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  outputTail: string;
}

/** The I/O a gate may do, injected so the gates and the engine core stay free of it. */
export interface GateIo {
  /** Read a workspace file (resolved and confined to the workspace), with its hash; text when small. */
  observeFile(workspace: string, path: string, opts: { wantText: boolean }): Promise<FileObservation>;
  runCommand(
    argv: readonly string[],
    cwd: string,
    timeoutMs: number,
    env: Record<string, string>,
  ): Promise<CommandOutcome>;
}

export interface GateContext {
  state: ProjectState;
  train: Train;
  phase: Phase;
  now: Date;
  io: GateIo;
}
