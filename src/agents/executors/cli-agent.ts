import { accessSync, appendFileSync, constants, mkdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { childEnv, runProcess } from '../../io/process.ts';
import { planSandbox, type SandboxPlace } from '../../io/sandbox.ts';
import type { ExecutorResult, ExecutorRun } from '../types.ts';
import { runCommandExecutor } from './command.ts';
import { costOf, type Price } from './pricing.ts';
import { type AgentUsage, parseUsage } from './usage.ts';

/** Where `command` would be found, as the shell looks it up on PATH; null when it is not there. */
export function findOnPath(command: string, path: string | undefined): string | null {
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes('/')) return isAbsolute(command) && executable(command) ? command : null;
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir && executable(join(dir, command))) return join(dir, command);
  }
  return null;
}

/**
 * Run a coding-agent CLI for one session: the command executor's process handling (no shell, the
 * workspace as cwd, timeout and abort, a redacted transcript as the session log), plus the token and
 * cost figures the CLI printed. A missing binary is `unavailable`, so a person takes the ticket.
 */
export async function runCliAgent(
  run: ExecutorRun & {
    argv: readonly string[];
    /** What to call the agent in messages ("the claude preset"). */
    label: string;
    /** Prices tokens when the CLI reports tokens but no cost. */
    price: Price | null;
    /** A transcript line about the installed version (from `<bin> --version`), before the run. */
    versionNote?: (installed: string | null) => string;
  },
): Promise<ExecutorResult> {
  const bin = run.argv[0]!;
  if (!findOnPath(bin, run.env.PATH ?? process.env.PATH))
    return {
      outcome: 'unavailable',
      exitCode: null,
      message: `${run.label} needs the \`${bin}\` command, which is not on PATH on this machine`,
    };
  if (run.versionNote) {
    // In the session's sandbox too: the CLI's install may lie in a folder an earlier session could write.
    const installed = await installedVersion(bin, run.env, run.sandbox && { ...run.sandbox, cwd: run.cwd });
    mkdirSync(dirname(run.logFile), { recursive: true });
    appendFileSync(run.logFile, `${run.versionNote(installed)}\n`);
  }
  let offset = 0;
  try {
    offset = statSync(run.logFile).size;
  } catch {
    // a new log
  }
  const result = await runCommandExecutor(run);
  let usage: AgentUsage | null = null;
  try {
    usage = parseUsage(readFileSync(run.logFile).subarray(offset).toString('utf8'));
  } catch {
    // no transcript, no figures
  }
  if (!usage) return result;
  const cost =
    usage.cost ??
    (run.price && (usage.tokensIn !== null || usage.tokensOut !== null)
      ? costOf(usage.tokensIn ?? 0, usage.tokensOut ?? 0, run.price)
      : null);
  return { ...result, tokensIn: usage.tokensIn, tokensOut: usage.tokensOut, cost };
}

/** The first x.y.z in `<bin> --version`, or null when it cannot be run or prints none. */
export async function installedVersion(
  bin: string,
  env: Record<string, string> = {},
  sandbox?: SandboxPlace & { cwd: string },
): Promise<string | null> {
  let out = '';
  const e = childEnv(env);
  const plan = sandbox ? planSandbox({ ...sandbox, program: bin, path: e.PATH ?? '' }) : { wrap: null };
  if ('refused' in plan) return null;
  const end = await runProcess({
    argv: [bin, '--version'],
    cwd: sandbox?.cwd ?? process.cwd(),
    env: e,
    timeoutMs: 30_000,
    onOutput: (t) => {
      out += t;
    },
    sandbox: plan.wrap,
  });
  if (end.spawnError || end.exitCode !== 0) return null;
  return /\b(\d+\.\d+\.\d+(?:[-+][\w.]+)?)\b/.exec(out)?.[1] ?? null;
}
