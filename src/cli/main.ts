/**
 * The `vt` command tree.
 *
 * Adding a command: write `src/cli/commands/NAME.ts` exporting `registerNAME(program, withCtx)`,
 * and list it, with the top-level commands it registers, in COMMAND_MODULES below. Every command
 * module is loaded on every run, but a run builds only the commands of the module its command line
 * names (`vt status` builds commands/project.ts's); `vt --help`, `vt` alone, `vt help`, completion
 * and an unknown word build them all. A command module imports only light things at its top:
 * commander types, `../output.ts`, `../../errors.ts`, `../../types.ts`, `../../package.ts`,
 * `import type` of anything. Everything heavy — the engine, the store (Kysely, better-sqlite3),
 * train loading (yaml, zod), SDKs (AI SDK, MCP SDK, Octokit) — is imported inside the action:
 *
 *   .action(withCtx(async (ctx, project: string) => {
 *     const [{ engine }, { Tickets }] = await Promise.all([ctx.vt(), import('../../engine/ticket-ops.ts')]);
 *     ...
 *   }))
 *
 * Node's built-ins may be imported as usual: the built package loads each one when an export of it
 * is first used (scripts/build.ts). So no module on a command's path uses a slow built-in at its top
 * level (`promisify(execFile)` there would load child_process, and net with it, for every command).
 *
 * Read commands open the store with `ctx.vt({ readonly: true })` (no migration, no write lock).
 * Each command gets `--help` with an `Examples:` section (test/cli.test.ts checks every one, and that
 * COMMAND_MODULES names exactly what each module registers), and test/startup.test.ts fails when
 * `vt --help` loads a heavy module.
 */
import { Command, CommanderError } from 'commander';
import { coerceError, exitCodeOf, VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import { packageVersion } from '../package.ts';
import { didYouMean } from '../suggest.ts';
import { registerAgents } from './commands/agents.ts';
import { registerAudit } from './commands/audit.ts';
import { registerAutopilot } from './commands/autopilot.ts';
import { registerCompletion } from './commands/completion.ts';
import { registerDb } from './commands/db.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDoctor } from './commands/doctor.ts';
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
import { registerWorker } from './commands/worker.ts';
import { CliContext, type GlobalOptions } from './context.ts';
import { type Io, printError, processIo, useColor } from './output.ts';
import { callSessionTool } from './session-client.ts';

export const EXIT_CODES_HELP = `Exit codes
  0    success
  1    a negative verdict: a gate did not pass, tampering was found, a check found a problem
  2    bad input or usage: a malformed train, an unknown project or command, a refused path
  3    a store or internal error: the store is empty, truncated or corrupt (restore a backup:
       vt db restore FILE, or import an audit export: vt db import BUNDLE), or a bug in vt
  4    not permitted: the actor lacks the role or did the work it tries to approve; a read-only
       store or folder that the command must write
  5    no space left on a device (SQLITE_FULL, ENOSPC): nothing was half-written; free space and
       run the same command again
  130  interrupted
vt worker: 0 stopped by a signal, every ticket finished or handed back; 1 stopped by vt abort, or a
  ticket could not be handed back (taken over when its lease expires); 3 the store could not be opened
`;

type Registrar = (program: Command, withCtx: WithCtx) => void;

/** Each command module's registrar, in the order `vt --help` lists them, with the top-level commands it registers. */
export const COMMAND_MODULES: readonly { commands: readonly string[]; register: Registrar }[] = [
  {
    commands: ['init', 'lint', 'schema'],
    register: registerSetup,
  },
  {
    commands: ['project', 'status'],
    register: registerProject,
  },
  {
    commands: [
      'tick',
      'artifact',
      'metric',
      'gate',
      'advance',
      'approve',
      'reject',
      'waive',
      'carry',
      'hold',
      'resume',
      'cancel',
      'reopen',
    ],
    register: registerWork,
  },
  {
    commands: ['issue', 'context', 'handoff'],
    register: registerIssue,
  },
  {
    commands: ['plan', 'retire'],
    register: registerOperations,
  },
  {
    commands: ['autopilot', 'pause', 'abort', 'retry', 'done', 'inbox'],
    register: registerAutopilot,
  },
  { commands: ['worker'], register: registerWorker },
  { commands: ['audit', 'admin'], register: registerAudit },
  { commands: ['demo'], register: registerDemo },
  { commands: ['mcp'], register: registerMcp },
  { commands: ['keys', 'whoami'], register: registerKeys },
  { commands: ['metrics'], register: registerMetrics },
  { commands: ['serve'], register: registerServe },
  { commands: ['token'], register: registerToken },
  { commands: ['notify'], register: registerNotify },
  { commands: ['mlflow'], register: registerMlflow },
  { commands: ['db'], register: registerDb },
  { commands: ['agents'], register: registerAgents },
  { commands: ['doctor'], register: registerDoctor },
  {
    commands: ['completion', '__complete'],
    register: registerCompletion,
  },
];

/** Whether `flag` is an option of `cmd` (or of a command above it) that takes a value. */
function takesValue(cmd: Command, flag: string): boolean {
  for (let at: Command | null = cmd; at; at = at.parent) {
    const o = at.options.find((x) => x.short === flag || x.long === flag);
    if (o) return o.required;
  }
  return false;
}

/**
 * The first word of argv that is not an option of `program` or an option's value: the command
 * named (the program's own options say which take a value).
 */
export function commandWord(program: Command, argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return null;
    if (a.startsWith('-')) {
      if (!a.includes('=') && takesValue(program, a)) i++;
      continue;
    }
    return a;
  }
  return null;
}

/**
 * The registrars a run needs: the one of the module whose command `word` is, else (no command,
 * `help`, completion, a word that names no command) every one, in COMMAND_MODULES order.
 */
function registrarsFor(word: string | null): Registrar[] {
  const one =
    word && word !== 'completion' && word !== '__complete'
      ? COMMAND_MODULES.find((m) => m.commands.includes(word))
      : undefined;
  return (one ? [one] : COMMAND_MODULES).map((m) => m.register);
}

/**
 * Build the command tree: with `argv`, only the commands of the module that command line names;
 * without, every command. Handlers receive a CliContext built from the global options.
 */
export function buildProgram(
  io: Io,
  run: (thunk: () => Promise<number | undefined>) => Promise<void>,
  argv?: readonly string[],
): Command {
  const program = new Command('vt')
    .description(
      'Value Train: carry ML projects through phase gates with agents and people, on an audit trail.',
    )
    .option(
      '--db <url>',
      'store: a SQLite path, sqlite:PATH or postgres://URL (default .vt/vt.db beside vt.yaml; env VT_DATABASE_URL)',
    )
    .option('--as <actor>', 'who is acting (env VT_ACTOR; default: your login name)')
    .option('--json', 'machine-readable output on stdout')
    .option('--no-color', 'no colour (also NO_COLOR, CLICOLOR=0, TERM=dumb)')
    .option('-C, --dir <dir>', 'run as if started in DIR')
    .option('--idempotency-key <key>', 'make a retried write a no-op (env VT_IDEMPOTENCY_KEY)')
    .option('--utc', 'show and read times in UTC instead of the local time zone')
    .version(packageVersion(), '-V, --version', 'print the version of vt')
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
  vt tick churn-model capture-request
  vt advance churn-model        evaluate the exit gates and move on
  vt demo --dir demo            run a whole project through all 18 phases
  vt doctor                     check this machine and the store
  vt help exit-codes`,
    );
  const withCtx: WithCtx =
    (fn) =>
    (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const ctx = new CliContext(io, cmd.optsWithGlobals() as GlobalOptions);
      const name = commandPath(cmd);
      ran = name;
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
        } catch (err) {
          throw await explain(err, ctx);
        } finally {
          await ctx.close().catch(() => {});
        }
      });
    };
  for (const register of registrarsFor(argv ? commandWord(program, argv) : null)) register(program, withCtx);
  return program;
}

let ran: string | null = null;
/**
 * The command this process ran ("metric set"), null before an action starts or when none does
 * (`--help`, a usage error). The launcher keys the code it caches for the built package by it.
 */
export function commandRan(): string | null {
  return ran;
}

/** What a command run inside an executor may do: its session's tools. */
const SESSION_COMMANDS = new Set(['tick', 'artifact add', 'metric set', 'context add', 'mcp']);

/** "artifact add" for `vt artifact add`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Name machine failures (full disk, damaged or read-only store) and suggest the project meant. */
async function explain(err: unknown, ctx: CliContext): Promise<unknown> {
  const e = classifyFailure(err, ctx.storeLocation ? { store: ctx.storeLocation } : {});
  const missing =
    e instanceof VtError && e.code === 'NOT_FOUND' ? /^no project "(.*)"$/.exec(e.message) : null;
  if (!missing) return e;
  try {
    const { store } = await ctx.vt({ readonly: true });
    const ids = (await store.db.selectFrom('projects').select('id').execute()).map((r) => r.id);
    const mean = didYouMean(missing[1]!, ids);
    return new VtError('NOT_FOUND', (e as VtError).message, {
      hint: `${mean ? `${mean} ` : ''}See: vt project list`,
      details: { project: missing[1], ...(e as VtError).details },
    });
  } catch {
    return e;
  }
}

/**
 * A word where a command was expected that names none (`vt worker --help`): a usage error with a
 * suggestion, even when --help follows (commander would print the parent's help and exit 0).
 */
export function unknownCommand(program: Command, argv: readonly string[]): VtError | null {
  let cmd = program;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return null;
    if (a.startsWith('-')) {
      if (!a.includes('=') && takesValue(cmd, a)) i++;
      continue;
    }
    if (!cmd.commands.length) return null;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) {
      if (cmd === program && a === 'help') return null;
      const names = cmd.commands.filter((c) => !(c as { _hidden?: boolean })._hidden).map((c) => c.name());
      const where = [...commandNames(cmd), a].join(' ');
      const mean = didYouMean(a, names);
      return new VtError('USAGE', `unknown command "${where}"`, {
        hint: `${mean ? `${mean} ` : ''}See: ${['vt', ...commandNames(cmd).slice(1), '--help'].join(' ')}`,
      });
    }
    cmd = sub;
  }
  return null;
}

function commandNames(cmd: Command): string[] {
  const out: string[] = [];
  for (let at: Command | null = cmd; at; at = at.parent) out.unshift(at.name());
  return out;
}

/** Wrap a command handler: build its context from the global options, map errors, close the store. */
export type WithCtx = <A extends unknown[]>(
  fn: (ctx: CliContext, ...args: A) => Promise<number | undefined>,
) => (...args: unknown[]) => Promise<void>;

/** Run the CLI with argv (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  // vt audit verify's worker thread runs this launcher too (src/audit/verify-bounded.ts).
  if (argv[0] === '__verify-worker') return (await import('../audit/verify-bounded.ts')).runVerifyWorker();
  if (argv[0] === 'help' && argv[1] === 'exit-codes') {
    io.out(EXIT_CODES_HELP);
    return 0;
  }
  let code = 0;
  const wantsJson = argv.includes('--json');
  const color = useColor(io, argv.includes('--no-color') ? false : undefined);
  const program = buildProgram(
    io,
    async (fn) => {
      try {
        code = (await fn()) ?? 0;
      } catch (err) {
        const e = coerceError(classifyFailure(err));
        printError(io, e, { json: wantsJson, color });
        code = exitCodeOf(e);
      }
    },
    argv,
  );
  const unknown = unknownCommand(program, argv);
  if (unknown) {
    printError(io, unknown, { json: wantsJson, color });
    return exitCodeOf(unknown);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return 0;
      if (err.code === 'commander.help') return 0;
      return 2;
    }
    const e = classifyFailure(err);
    printError(io, e, { json: wantsJson, color });
    return exitCodeOf(e);
  }
  return code;
}

/**
 * The last resort for an error nothing caught (an 'error' event of a stream, a rejected promise
 * nobody awaited): named like any other failure, with its exit code, instead of a crash that
 * exits 1 (which means "a negative verdict").
 */
export function crashed(err: unknown, io: Io = processIo()): number {
  const e = coerceError(classifyFailure(err));
  printError(io, e, { json: false, color: false });
  return exitCodeOf(e);
}
