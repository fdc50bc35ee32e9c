import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { lintTrain } from '../../train/lint.ts';
import { formatProblem, loadTrainFile, parseTrain } from '../../train/loader.ts';
import { trainJsonSchema } from '../../train/schema.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

export const TEMPLATES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../templates');

export function templateNames(): string[] {
  return readdirSync(TEMPLATES_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''));
}

/** Write vt.yaml from a built-in template (with `people` naming the actor), plus the document templates. */
export function writeStarter(dir: string, template: string, actor: string, force: boolean): string {
  const src = join(TEMPLATES_DIR, `${template}.yaml`);
  if (!existsSync(src)) {
    throw new VtError('BAD_INPUT', `no template "${template}"`, {
      hint: `Templates: ${templateNames().join(', ')}`,
    });
  }
  const target = join(dir, TRAIN_FILE);
  if (existsSync(target) && !force)
    throw new VtError('CONFLICT', `${target} already exists`, {
      hint: 'Keep it, or overwrite with: vt init --force',
    });
  const text = readFileSync(src, 'utf8').replace(
    /^people: \{\}$/m,
    `people:\n  # who holds which roles; approvers may not approve work they did\n  ${actor}: [conductor, evaluator]`,
  );
  parseTrain(text, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(target, text);
  const docs = join(dir, 'templates', 'docs');
  mkdirSync(docs, { recursive: true });
  for (const f of readdirSync(join(TEMPLATES_DIR, 'docs'))) {
    if (!existsSync(join(docs, f)) || force) copyFileSync(join(TEMPLATES_DIR, 'docs', f), join(docs, f));
  }
  return target;
}

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
    .addHelpText('after', '\nExamples:\n  vt init\n  vt init --dir ./churn --template ml-value-train')
    .action(
      withCtx(async (ctx, opts: { template: string; force?: boolean }) => {
        const file = writeStarter(ctx.cwd, opts.template, ctx.actor, !!opts.force);
        const { store } = await ctx.vt();
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} wrote ${file}\n${paint(ctx.color, 'green', '✓')} store ${store.location}\n`,
        );
        await signFirstCheckpoint(ctx);
        ctx.io.err(`  next: vt project create "My project"\n`);
        if (ctx.json) json(ctx.io, { train: file, store: store.location });
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
        ctx.io.out(`${JSON.stringify(trainJsonSchema(), null, 2)}\n`);
        return 0;
      }),
    );
}
