import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact, stripControl } from '../../redact.ts';
import type { ExecutorResult, ExecutorRun } from '../types.ts';

const KILL_GRACE_MS = 2000;

/**
 * Run a command in the ticket's workspace: argv without a shell, the task as JSON on stdin, context
 * in VT_* environment variables. Output goes, redacted, to the session log. Honours a timeout and
 * an AbortSignal (SIGTERM, then SIGKILL).
 */
export function runCommandExecutor(run: ExecutorRun & { argv: readonly string[] }): Promise<ExecutorResult> {
  mkdirSync(dirname(run.logFile), { recursive: true });
  const log = createWriteStream(run.logFile, { flags: 'a' });
  const started = performance.now();
  return new Promise((resolve) => {
    let timedOut = false;
    let aborted = false;
    let pending = '';
    const write = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const cut = pending.lastIndexOf('\n');
      if (cut >= 0) {
        log.write(redact(stripControl(pending.slice(0, cut + 1))));
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
    child.stdout.on('data', write);
    child.stderr.on('data', write);
    child.stdin.on('error', () => {}); // the command may not read its input
    child.stdin.end(run.input);
    const finish = (result: ExecutorResult) => {
      clearTimeout(timer);
      run.signal?.removeEventListener('abort', onAbort);
      if (pending) log.write(redact(stripControl(pending)));
      log.end(
        `\n[vt] ${result.outcome} after ${Math.round(performance.now() - started)} ms: ${result.message}\n`,
      );
      resolve(result);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT' || err.code === 'EACCES';
      finish({
        outcome: missing ? 'unavailable' : 'failed',
        exitCode: null,
        message: missing
          ? `the executor cannot be started: ${run.argv[0]} ${err.code === 'ENOENT' ? 'not found' : 'not executable'}`
          : err.message,
      });
    });
    child.on('close', (code, signal) => {
      if (timedOut)
        finish({
          outcome: 'timed-out',
          exitCode: code,
          message: `no result within ${Math.round(run.timeoutMs / 1000)} s`,
        });
      else if (aborted) finish({ outcome: 'failed', exitCode: code, message: 'aborted' });
      else if (code === 0) finish({ outcome: 'succeeded', exitCode: 0, message: 'exited 0' });
      else
        finish({
          outcome: 'failed',
          exitCode: code,
          message: signal ? `killed by ${signal}` : `exited ${code}`,
        });
    });
  });
}
