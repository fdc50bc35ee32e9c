import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

/** The SQLite file behind --db / VT_DATABASE_URL / .vt/vt.db. */
function sqliteFile(ctx: CliContext): string {
  const target = ctx.dbTarget();
  if (/^postgres(ql)?:\/\//.test(target))
    throw new VtError('BAD_INPUT', 'this command works on a SQLite store', {
      hint: 'Name a SQLite file with --db PATH',
    });
  return resolve(ctx.cwd, target.replace(/^sqlite:(\/\/)?/, ''));
}

const ok = (ctx: CliContext, text: string) => ctx.io.err(`${paint(ctx.color, 'green', '✓')} ${text}\n`);

export function registerDb(program: Command, withCtx: WithCtx): void {
  const db = program
    .command('db')
    .description('look after the store: backup, restore, import, check')
    .addHelpText(
      'after',
      '\nExamples:\n  vt db check\n  vt db backup backups/vt.db\n  vt db restore backups/vt.db --yes\n  vt db import audit.jsonl',
    );

  db.command('backup')
    .description('copy the store to FILE, consistently, even while autopilots run; the copy is checked')
    .argument('<file>', 'where the backup goes (a SQLite file)')
    .option('-f, --force', 'overwrite FILE if it exists')
    .addHelpText(
      'after',
      '\nExamples:\n  vt db backup backups/vt-$(date +%F).db\n  vt db backup /mnt/safe/vt.db --force --json',
    )
    .action(
      withCtx(async (ctx, file: string, o: { force?: boolean }) => {
        const store = sqliteFile(ctx);
        const { assertStoreFileSound } = await import('../../store/sqlite-file.ts');
        if (!existsSync(store))
          throw new VtError('NOT_FOUND', `there is no store at ${store}`, {
            hint: 'Create one with: vt init',
          });
        assertStoreFileSound(store);
        const { backupSqliteStore } = await import('../../store/backup.ts');
        const r = await backupSqliteStore(store, resolve(ctx.cwd, file), { force: !!o.force });
        if (ctx.json) json(ctx.io, r);
        ok(
          ctx,
          `backed up ${store} to ${r.file}: ${r.bytes} bytes, ${r.events} events in ${r.projects} chains verify`,
        );
        return 0;
      }),
    );

  db.command('restore')
    .description('replace the store with a backup; the current store is moved aside, never deleted')
    .argument('<file>', 'a backup made by vt db backup')
    .option('--dry-run', 'show what would happen and change nothing')
    .option('-y, --yes', 'do it (needed: the store is replaced)')
    .addHelpText(
      'after',
      '\nExamples:\n  vt db restore backups/vt-2026-11-30.db --dry-run\n  vt db restore backups/vt-2026-11-30.db --yes',
    )
    .action(
      withCtx(async (ctx, file: string, o: { dryRun?: boolean; yes?: boolean }) => {
        const store = sqliteFile(ctx);
        const backup = resolve(ctx.cwd, file);
        const { planRestore, restoreSqliteStore } = await import('../../store/backup.ts');
        const plan = await planRestore(backup, store);
        const c = plan.current;
        ctx.io.err(
          [
            `restore ${store} from ${backup}`,
            `  backup: ${plan.backup.events} events in ${plan.backup.projects} chains, checked`,
            `  current store: ${c ? `${c.ok ? 'sound' : `damaged (${c.state})`}, ${c.events} events in ${c.projects} chains` : 'none'}`,
            ...(plan.keptAs ? [`  the current store is kept as ${plan.keptAs}`] : []),
            '',
          ].join('\n'),
        );
        if (ctx.json) json(ctx.io, { ...plan, dry_run: !!o.dryRun, restored: !o.dryRun && !!o.yes });
        if (o.dryRun) return 0;
        if (!o.yes)
          throw new VtError('USAGE', 'restoring replaces the store: add --yes to go ahead', {
            hint: `vt db restore ${file} --yes`,
          });
        await restoreSqliteStore(backup, store, plan);
        ok(ctx, `restored ${store}: ${plan.backup.events} events; check with: vt audit verify`);
        return 0;
      }),
    );

  db.command('import')
    .description('rebuild a store from an audit export bundle (vt audit export), verified against it')
    .argument('<bundle>', 'a bundle written by vt audit export')
    .option('--train <file...>', "train files holding the projects' pinned trains (default: vt.yaml here)")
    .addHelpText(
      'after',
      `
The events are imported as they are (same hashes); projections are rebuilt from them. A project's
train is taken from the train files whose content hash matches the one it pinned.

Examples:
  vt db import audit.jsonl
  vt db import audit.jsonl --db restored.db --train vt.yaml old-train.yaml`,
    )
    .action(
      withCtx(async (ctx, bundle: string, o: { train?: string[] }) => {
        const store = sqliteFile(ctx);
        const { loadTrainFile } = await import('../../train/loader.ts');
        const root = ctx.root();
        const files = o.train?.map((f) => resolve(ctx.cwd, f)) ?? (root ? [join(root, TRAIN_FILE)] : []);
        const trains = files.filter((f) => o.train || existsSync(f)).map((f) => loadTrainFile(f));
        const { importBundle } = await import('../../store/import.ts');
        const r = await importBundle(resolve(ctx.cwd, bundle), store, trains);
        if (ctx.json) json(ctx.io, r);
        ok(ctx, `imported ${r.events} events of ${r.projects} projects into ${store}; every chain verifies`);
        for (const m of r.missingTrains)
          ctx.io.err(
            `  ! no train with hash ${m.train_hash.slice(0, 12)} for ${m.project}: name its file with --train and import again\n`,
          );
        return 0;
      }),
    );

  db.command('check')
    .description(
      'check the store: file, SQLite integrity, hash chains, projections, trains (exit 1 on a problem)',
    )
    .addHelpText('after', '\nExamples:\n  vt db check\n  vt db check --json | jq .ok')
    .action(
      withCtx(async (ctx) => {
        const store = sqliteFile(ctx);
        const { checkSqliteStore } = await import('../../store/check.ts');
        const r = await checkSqliteStore(store);
        if (ctx.json) json(ctx.io, r);
        for (const c of r.checks)
          ctx.io.err(
            `${c.ok ? paint(ctx.color, 'green', '✓') : paint(ctx.color, 'red', '✗')} ${c.check}: ${c.message}\n`,
          );
        if (!r.ok) {
          const { STORE_WAY_BACK } = await import('../../store/sqlite-file.ts');
          ctx.io.err(`  ${STORE_WAY_BACK}\n`);
        }
        return r.ok ? 0 : 1;
      }),
    );
}
