import { Command, CommanderError } from 'commander';
import { coerceError, exitCodeOf, VtError } from '../errors.ts';
import { registerAudit } from './commands/audit.ts';
import { registerAutopilot } from './commands/autopilot.ts';
import { registerDemo } from './commands/demo.ts';
import { registerIssue } from './commands/issue.ts';
import { registerKeys } from './commands/keys.ts';
import { registerMcp } from './commands/mcp.ts';
import { registerMetrics } from './commands/metrics.ts';
import { registerMlflow } from './commands/mlflow.ts';
import { registerNotify } from './commands/notify.ts';
import { registerOperations } from './commands/operations.ts';
import { registerProject } from './commands/project.ts';
import { registerServe } from './commands/serve.ts';
import { registerSetup } from './commands/setup.ts';
import { registerToken } from './commands/token.ts';
import { registerWork } from './commands/work.ts';
import { CliContext, type GlobalOptions } from './context.ts';
import { type Io, printError, processIo, useColor } from './output.ts';
import { callSessionTool } from './session-client.ts';

export const EXIT_CODES_HELP = `Exit codes
  0    success
  1    a negative verdict: a gate did not pass, tampering was found
  2    bad input or usage: a malformed train, an unknown project, a refused path
  3    an internal or store error
  4    not permitted: the actor lacks the role, or did the work it tries to approve
  130  interrupted
`;

/** Build the command tree. Handlers receive a CliContext built from the global options. */
export function buildProgram(
  io: Io,
  run: (thunk: () => Promise<number | undefined>) => Promise<void>,
): Command {
  const program = new Command('vt')
    .description(
      'Value Train: carry ML projects through phase gates with agents and people, on an audit trail.',
    )
    .option(
      '--db <url>',
      'store: a SQLite path or sqlite:PATH (default .vt/vt.db beside vt.yaml; env VT_DATABASE_URL)',
    )
    .option('--as <actor>', 'who is acting (env VT_ACTOR; default: your login name)')
    .option('--json', 'machine-readable output on stdout')
    .option('--no-color', 'no colour (also NO_COLOR, CLICOLOR=0, TERM=dumb)')
    .option('-C, --dir <dir>', 'run as if started in DIR')
    .option('--idempotency-key <key>', 'make a retried write a no-op (env VT_IDEMPOTENCY_KEY)')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  vt init                       write vt.yaml from the ml-value-train template and create the store
  vt project create "Churn model" --team growth
  vt status churn-model         where the project stands and what its gates say
  vt tick churn-model problem-stated
  vt advance churn-model        evaluate the exit gates and move on
  vt demo                       run a whole project through all 18 phases
  vt help exit-codes`,
    );
  const withCtx: WithCtx =
    (fn) =>
    (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const ctx = new CliContext(io, cmd.optsWithGlobals() as GlobalOptions);
      const name = commandPath(cmd);
      // What was asked, in words: a reused idempotency key must ask the same.
      ctx.request = [
        'vt',
        name,
        ...args.slice(0, -1).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))),
      ]
        .filter((x) => x !== undefined && x !== '{}')
        .join(' ');
      return run(async () => {
        const session = ctx.session();
        if (session && !SESSION_COMMANDS.has(name)) {
          // Inside an executor there is no store to open: anything but the session's own tools is
          // refused by the session (and recorded there), never run.
          await callSessionTool(session, name.replaceAll(' ', '_'), {});
          throw new VtError('NOT_PERMITTED', `vt ${name} is not available inside an agent session`);
        }
        try {
          return await (fn as (c: CliContext, ...a: unknown[]) => Promise<number | undefined>)(
            ctx,
            ...args.slice(0, -1),
          );
        } finally {
          await ctx.close();
        }
      });
    };
  registerSetup(program, withCtx);
  registerProject(program, withCtx);
  registerWork(program, withCtx);
  registerIssue(program, withCtx);
  registerOperations(program, withCtx);
  registerAutopilot(program, withCtx);
  registerAudit(program, withCtx);
  registerDemo(program, withCtx);
  registerMcp(program, withCtx);
  registerKeys(program, withCtx);
  registerMetrics(program, withCtx);
  registerServe(program, withCtx);
  registerToken(program, withCtx);
  registerNotify(program, withCtx);
  registerMlflow(program, withCtx);
  return program;
}

/** What a command run inside an executor may do: its session's tools. */
const SESSION_COMMANDS = new Set(['tick', 'artifact add', 'metric set', 'context add', 'mcp']);

/** "artifact add" for `vt artifact add`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Wrap a command handler: build its context from the global options, map errors, close the store. */
export type WithCtx = <A extends unknown[]>(
  fn: (ctx: CliContext, ...args: A) => Promise<number | undefined>,
) => (...args: unknown[]) => Promise<void>;

/** Run the CLI with argv (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  if (argv[0] === 'help' && argv[1] === 'exit-codes') {
    io.out(EXIT_CODES_HELP);
    return 0;
  }
  let code = 0;
  const wantsJson = argv.includes('--json');
  const color = useColor(io, argv.includes('--no-color') ? false : undefined);
  const program = buildProgram(io, async (fn) => {
    try {
      code = (await fn()) ?? 0;
    } catch (err) {
      const e = coerceError(err);
      printError(io, e, { json: wantsJson, color });
      code = exitCodeOf(e);
    }
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return 0;
      if (err.code === 'commander.help') return 0;
      return 2;
    }
    printError(io, err, { json: wantsJson, color });
    return exitCodeOf(err);
  }
  return code;
}
