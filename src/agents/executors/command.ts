import { childEnv, runProcess } from '../../io/process.ts';
import { onPath, planSandbox } from '../../io/sandbox.ts';
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
  const close = (result: ExecutorResult, ms: number) => {
    log.close(`\n[vt] ${result.outcome} after ${ms} ms: ${result.message}\n`);
    return result;
  };
  // The executor gets this process's environment minus the store's credentials, plus its VT_* context.
  const env = childEnv(run.env);
  const plan = run.sandbox
    ? planSandbox({ ...run.sandbox, program: run.argv[0]!, path: env.PATH ?? '', cwd: run.cwd })
    : { wrap: null };
  if ('refused' in plan) return close({ outcome: 'unavailable', exitCode: null, message: plan.refused }, 0);
  // Inside bubblewrap a missing program is bwrap's failure: say it as a spawn error would.
  if (plan.wrap && !onPath(run.argv[0]!, env.PATH))
    return close(toResult(run.argv[0]!, run.timeoutMs, notFound(run.argv[0]!)), 0);
  if (run.sandbox) log.write(plan.wrap ? '[vt] in a sandbox (bubblewrap)\n' : '[vt] without a sandbox\n');
  const end = await runProcess({ ...run, env, onOutput: (text) => log.write(text), sandbox: plan.wrap });
  return close(toResult(run.argv[0]!, run.timeoutMs, end), end.durationMs);
}

function notFound(command: string): Awaited<ReturnType<typeof runProcess>> {
  const err: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT' });
  return {
    exitCode: null,
    killedBy: null,
    timedOut: false,
    aborted: false,
    spawnError: err,
    durationMs: 0,
    tail: '',
    survivors: 0,
  };
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
