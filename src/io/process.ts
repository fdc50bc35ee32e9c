import { spawn } from 'node:child_process';
import { redact, stripControl } from '../redact.ts';

const KILL_GRACE_MS = 2000;
const TAIL_CHARS = 4096;

export interface ProcessRun {
  argv: readonly string[];
  cwd: string;
  /** Added to this process's environment. */
  env: Record<string, string>;
  /** Written to the process's standard input (closed at once when absent). */
  input?: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Output (stdout and stderr), redacted and stripped of control sequences, a line at a time. */
  onOutput?: (text: string) => void;
}

export interface ProcessEnd {
  exitCode: number | null;
  killedBy: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the process could not be started at all (ENOENT, EACCES...). */
  spawnError: NodeJS.ErrnoException | null;
  durationMs: number;
  /** The last few kilobytes of output, redacted. */
  tail: string;
}

const clean = (text: string) => redact(stripControl(text));

/**
 * Run argv without a shell: context through the environment, data through stdin. A timeout or an
 * abort sends SIGTERM, then SIGKILL after a grace period. Never rejects. Gates and executors both
 * run their commands through here.
 */
export function runProcess(run: ProcessRun): Promise<ProcessEnd> {
  const started = performance.now();
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let pending = '';
    let tail = '';
    const emit = (text: string) => {
      const safe = clean(text);
      tail = (tail + safe).slice(-TAIL_CHARS);
      run.onOutput?.(safe);
    };
    const take = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const cut = pending.lastIndexOf('\n');
      if (cut >= 0) {
        emit(pending.slice(0, cut + 1));
        pending = pending.slice(cut + 1);
      }
    };
    const child = spawn(run.argv[0]!, run.argv.slice(1), {
      cwd: run.cwd,
      env: { ...process.env, ...run.env },
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stop = () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, run.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.stdin.on('error', () => {}); // the command may not read its input
    child.stdin.end(run.input ?? '');
    let settled = false;
    const finish = (end: Omit<ProcessEnd, 'timedOut' | 'aborted' | 'durationMs' | 'tail'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      if (pending) emit(pending);
      resolve({ ...end, timedOut, aborted, durationMs: Math.round(performance.now() - started), tail });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES' || child.pid === undefined) {
        emit(`${err.message}\n`);
        finish({ exitCode: null, killedBy: null, spawnError: err });
      }
    });
    child.on('close', (code, signal) => finish({ exitCode: code, killedBy: signal, spawnError: null }));
  });
}
