import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { TEMPLATES_DIR } from '../../package.ts';
import { markPostgresFolder } from '../../store/postgres-mark.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe } from '../output.ts';

export { TEMPLATES_DIR };

export function templateNames(): string[] {
  return readdirSync(TEMPLATES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''));
}

/** Phases of the built-in train that need people in the room (interviews, workshops, the pitch, kickoff). */
export const PEOPLE_PHASES = ['discovery-framing', 'client-readiness', 'scope-pitch', 'pre-kickoff'];

/**
 * Make the log key (outside the workspace) when there is none, publish its verifier key in
 * audit/log.pub and sign the store's first checkpoint, which pins the log's name from day one.
 * A problem here is a warning: the workspace works, its log is not anchored yet.
 */
async function signFirstCheckpoint(ctx: CliContext): Promise<void> {
  const a = ctx.audit();
  if (!a) return;
  const { AuditDir } = await import('../../audit/audit-dir.ts');
  const { writeCheckpoint } = await import('../../audit/checkpoint-writer.ts');
  const { ensureLogKey } = await import('../../audit/log-key.ts');
  try {
    const { signer, created } = ensureLogKey(a.keyFile, { workspace: a.workspace ?? null });
    const { store } = await ctx.vt();
    await writeCheckpoint(store, new AuditDir(a.dir), signer);
    ctx.io.err(
      `${paint(ctx.color, 'green', '✓')} log key ${a.keyFile}${created ? ' (new)' : ''}; verifier key and checkpoints in ${a.dir} (commit it)\n`,
    );
  } catch (err) {
    ctx.io.err(
      `${paint(ctx.color, 'yellow', '⚠')} the audit log is not signed: ${(err as Error).message}\n  fix it, then: vt audit checkpoint --init\n`,
    );
  }
}

export function registerSetup(program: Command, withCtx: WithCtx): void {
  program
    .command('init')
    .description('write vt.yaml from a template and create the store in .vt/')
    .option('-t, --template <name>', 'built-in template', 'ml-value-train')
    .option('-f, --force', 'overwrite an existing vt.yaml')
    .option(
      '--agents <executor>',
      'give every role an agent: claude, codex, gemini, aider, or llm:PROVIDER:MODEL[@BASE_URL]',
    )
    .option('--key <file>', 'the key that signs your decisions (a private key file or a .pub)')
    .addHelpText(
      'after',
      `
With --agents, every role's executor is that agent; the phases that need people in the room
(${PEOPLE_PHASES.join(', ')}) stay with a person, and approvals are always people's.
vt.yaml lists you (--as, VT_ACTOR or your login) with the key that signs your decisions: --key,
else ssh-agent's first key, else your vt key (~/.config/vt/keys/NAME), made now if you have none.
The built-in template requires signed decisions (decisions: {signed: required}).
With VT_DATABASE_URL=postgres://… the store is that database, and .vt/store marks the folder, so a
command run there without the URL stops instead of starting a SQLite store (docs/postgres.md).

Examples:
  vt init
  vt init --dir ./churn --template ml-value-train
  vt init --agents claude
  vt init --agents llm:openai-compatible:qwen2.5:7b@http://127.0.0.1:11434/v1
  vt init --key ~/.ssh/id_ed25519.pub
  VT_DATABASE_URL=postgres://vt_owner@db.internal/vt vt init`,
    )
    .action(
      withCtx(async (ctx, opts: { template: string; force?: boolean; agents?: string; key?: string }) => {
        if (!opts.force && existsSync(join(ctx.cwd, TRAIN_FILE)))
          throw new VtError('CONFLICT', `${join(ctx.cwd, TRAIN_FILE)} already exists`, {
            hint: 'Keep it, or overwrite with: vt init --force',
          });
        const agents = opts.agents
          ? (await import('../../agents/dispatch.ts')).parseExecutorShorthand('--agents', opts.agents)
          : undefined;
        const { starterKey, keyLine } = await import('../../identity/starter-key.ts');
        const { fingerprint } = await import('../../identity/public-key.ts');
        const found = await starterKey({
          person: ctx.actor,
          env: ctx.io.env,
          cwd: ctx.cwd,
          keyFile: opts.key,
          workspaceRoot: ctx.cwd,
        });
        const { writeStarter } = await import('../starter.ts');
        const file = await writeStarter(
          ctx.cwd,
          opts.template,
          ctx.actor,
          !!opts.force,
          agents,
          keyLine(found.key),
        );
        const { store } = await ctx.vt();
        if (store.kind === 'postgres') markPostgresFolder(ctx.cwd);
        const from = {
          file: `from ${found.origin}`,
          agent: 'held by ssh-agent',
          vt: `your vt key ${found.origin}`,
          new: `a new vt key, ${found.origin} (mode 0600)`,
        }[found.source];
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} wrote ${file}\n${paint(ctx.color, 'green', '✓')} ${safe(ctx.actor)} signs decisions with ${found.key.type} ${fingerprint(found.key)} (${from})\n${paint(ctx.color, 'green', '✓')} store ${store.location}\n`,
        );
        if (agents)
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} every role is worked by ${opts.agents}; people work ${PEOPLE_PHASES.join(', ')} and make every approval\n  check the agent CLIs with: vt agents check\n`,
          );
        await signFirstCheckpoint(ctx);
        ctx.io.err(`  next: vt project create "My project"\n`);
        if (ctx.json) json(ctx.io, { train: file, store: store.location, agents: agents ?? null });
        return 0;
      }),
    );

  program
    .command('lint')
    .description('check a train: schema, references, reachability and loops with no way out')
    .argument('[file]', 'train file (default: vt.yaml found from here)')
    .addHelpText('after', '\nExamples:\n  vt lint\n  vt lint templates/my-train.yaml --json')
    .action(
      withCtx(async (ctx, file?: string) => {
        const path = file ? resolve(ctx.cwd, file) : join(ctx.requireRoot(), TRAIN_FILE);
        const [{ lintTrain }, { formatProblem, loadTrainFile }] = await Promise.all([
          import('../../train/lint.ts'),
          import('../../train/loader.ts'),
        ]);
        const loaded = loadTrainFile(path);
        const problems = lintTrain(loaded);
        if (ctx.json) json(ctx.io, { file: path, hash: loaded.hash, ok: problems.length === 0, problems });
        else if (problems.length) {
          for (const p of problems) ctx.io.err(`${formatProblem(p)}\n`);
          ctx.io.err(
            `${paint(ctx.color, 'red', '✗')} ${problems.length} problem${problems.length > 1 ? 's' : ''}\n`,
          );
        } else {
          const t = loaded.train;
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} ${path}: ${t.phases.length} phases, ${t.roles.length} roles, ${t.modes.length} modes; hash ${loaded.hash.slice(0, 12)}\n`,
          );
        }
        if (problems.length)
          throw new VtError('TRAIN_INVALID', `${path} has ${problems.length} problem(s)`, {
            hint: 'Fix them and run vt lint again',
          });
        return 0;
      }),
    );

  program
    .command('schema')
    .description('print the JSON Schema of vt.yaml (for editor completion)')
    .addHelpText(
      'after',
      '\nExample:\n  vt schema > vt.schema.json   # then add "# yaml-language-server: $schema=vt.schema.json" to vt.yaml',
    )
    .action(
      withCtx(async (ctx) => {
        const { trainJsonSchema } = await import('../../train/schema.ts');
        ctx.io.out(`${JSON.stringify(trainJsonSchema(), null, 2)}\n`);
        return 0;
      }),
    );
}
