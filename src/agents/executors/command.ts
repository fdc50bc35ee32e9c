import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { childEnv, runProcess } from '../../io/process.ts';
import type { ExecutorResult, ExecutorRun } from '../types.ts';

/**
 * Run a command in the ticket's workspace: argv without a shell, the task as JSON on stdin, context
 * in VT_* environment variables. Output goes, redacted, to the session log. Honours a timeout and
 * an AbortSignal: the whole process group gets SIGTERM, then SIGKILL, and is gone before this returns.
 */
export async function runCommandExecutor(
  run: ExecutorRun & { argv: readonly string[] },
): Promise<ExecutorResult> {
  mkdirSync(dirname(run.logFile), { recursive: true });
  const log = createWriteStream(run.logFile, { flags: 'a' });
  // A log that cannot be written (a full disk) is the run's error, not an uncaught crash.
  let logError: Error | null = null;
  log.on('error', (err) => {
    logError ??= err;
  });
  // The executor gets this process's environment minus the store's credentials, plus its VT_* context.
  const end = await runProcess({
    ...run,
    env: childEnv(run.env),
    onOutput: (text) => logError ?? log.write(text),
  });
  const result = toResult(run.argv[0]!, run.timeoutMs, end);
  if (!logError)
    await new Promise<void>((resolve) => {
      log.once('error', () => resolve());
      log.end(`\n[vt] ${result.outcome} after ${end.durationMs} ms: ${result.message}\n`, () => resolve());
    });
  if (logError) throw logError;
  return result;
}

function toResult(
  command: string,
  timeoutMs: number,
  end: Awaited<ReturnType<typeof runProcess>>,
): ExecutorResult {
  const { exitCode } = end;
  if (end.spawnError) {
    const missing = end.spawnError.code === 'ENOENT';
    return {
      outcome: 'unavailable',
      exitCode: null,
      message: `the executor cannot be started: ${command} ${missing ? 'not found' : 'not executable'}`,
    };
  }
  if (end.timedOut)
    return { outcome: 'timed-out', exitCode, message: `no result within ${Math.round(timeoutMs / 1000)} s` };
  if (end.aborted) return { outcome: 'failed', exitCode, message: 'aborted' };
  if (end.survivors)
    return {
      outcome: 'failed',
      exitCode,
      message: `${end.survivors} process(es) it started could not be stopped`,
    };
  if (exitCode === 0) return { outcome: 'succeeded', exitCode: 0, message: 'exited 0' };
  return {
    outcome: 'failed',
    exitCode,
    message: end.killedBy ? `killed by ${end.killedBy}` : `exited ${exitCode}`,
  };
}
