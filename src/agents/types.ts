import type { SandboxPlace } from '../io/sandbox.ts';

/** What an executor is given for one session. */
export interface ExecutorRun {
  cwd: string;
  env: Record<string, string>;
  /** The task, as JSON, on the executor's standard input. */
  input: string;
  timeoutMs: number;
  logFile: string;
  signal?: AbortSignal;
  /** Told the executor's process group id once it runs. */
  onStart?: (pgid: number) => void;
  /** The sandbox it runs in (see src/io/sandbox.ts); absent: none. */
  sandbox?: SandboxPlace | undefined;
}

/** How an executor's session ended. `unavailable` sends the ticket to a person's inbox. */
export interface ExecutorResult {
  outcome: 'succeeded' | 'failed' | 'timed-out' | 'unavailable';
  exitCode: number | null;
  message: string;
  tokensIn?: number | null;
  tokensOut?: number | null;
  cost?: number | null;
}
