import { childEnv, runProcess } from '../../io/process.ts';
import { openSessionLog } from '../session-log.ts';
import type { ExecutorResult, ExecutorRun } from '../types.ts';

/**
 * Run a command in the ticket's workspace: argv without a shell, the task as JSON on stdin, context
 * in VT_* environment variables. Output goes, redacted, to the session log. Honours a timeout and
 * an AbortSignal: the whole process group gets SIGTERM, then SIGKILL, and is gone before this returns.
 * The log is capped (its start and end are kept).
 */
export async function runCommandExecutor(
  run: ExecutorRun & { argv: readonly string[] },
): Promise<ExecutorResult> {
  const log = openSessionLog(run.logFile);
  // The executor gets this process's environment minus the store's credentials, plus its VT_* context.
  const end = await runProcess({
    ...run,
    env: childEnv(run.env),
    onOutput: (text) => log.write(text),
  });
  const result = toResult(run.argv[0]!, run.timeoutMs, end);
  log.close(`\n[vt] ${result.outcome} after ${end.durationMs} ms: ${result.message}\n`);
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
