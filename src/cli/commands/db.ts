import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

/** Open the store named by the context (or `target`) without migrating it. */
async function openUnmigrated(ctx: CliContext, target?: string) {
  const { openStore } = await import('../../store/store.ts');
  return openStore(target ?? ctx.dbTarget(), { migrate: 'never' });
}

/** The SQLite file behind --db / VT_DATABASE_URL / .vt/vt.db. */
function sqliteFile(ctx: CliContext, onPostgres = 'Name a SQLite file with --db PATH'): string {
  const target = ctx.dbTarget();
  if (/^postgres(ql)?:\/\//.test(target))
    throw new VtError('BAD_INPUT', 'this command works on a SQLite store', { hint: onPostgres });
  return resolve(ctx.cwd, target.replace(/^sqlite:(\/\/)?/, ''));
}

const ok = (ctx: CliContext, text: string) => ctx.io.err(`${paint(ctx.color, 'green', '✓')} ${text}\n`);

/** `vt db …`: the store itself — its schema, and moving it between SQLite and PostgreSQL. */
export function registerDb(program: Command, withCtx: WithCtx): Command {
  const db = program
    .command('db')
    .description(
      'the store: schema status and migrations, copies between SQLite and PostgreSQL, backup, restore, import, check',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  vt db status\n  vt db check\n  vt db backup backups/vt.db\n  vt db restore backups/vt.db --yes\n  vt db import audit.jsonl',
    );

  db.command('status')
    .description('the store kind, where it is, and which migrations it has; exit 1 when it is behind')
    .addHelpText(
      'after',
      '\nExamples:\n  vt db status\n  VT_DATABASE_URL=postgres://vt@db.internal/vt vt db status --json',
    )
    .action(
      withCtx(async (ctx) => {
        const { schemaStatus } = await import('../../store/migrate.ts');
        const store = await openUnmigrated(ctx);
        try {
          const s = await schemaStatus(store.db);
          const current = !s.pending.length && !s.unknown.length;
          const out = {
            kind: store.kind,
            location: store.location,
            current,
            applied: s.applied,
            pending: s.pending,
            unknown: s.unknown,
          };
          if (ctx.json) json(ctx.io, out);
          else
            ctx.io.out(
              `${store.kind}\t${store.location}\t${s.applied.length}/${s.expected.length} migrations\n`,
            );
          if (s.unknown.length)
            ctx.io.err(
              `${paint(ctx.color, 'red', '✗')} migrated by a newer vt: ${s.unknown.join(', ')}. Upgrade vt.\n`,
            );
          else if (s.pending.length)
            ctx.io.err(
              `${paint(ctx.color, 'yellow', '!')} ${s.pending.length} migration(s) pending: ${s.pending.join(', ')}. Run: vt db migrate\n`,
            );
          else ctx.io.err(`${paint(ctx.color, 'green', '✓')} the schema is current\n`);
          return current ? 0 : 1;
        } finally {
          await store.close();
        }
      }),
    );

  db.command('migrate')
    .description('apply pending migrations (each in its own transaction; concurrent runs wait their turn)')
    .option('--dry-run', 'list what would be applied, change nothing')
    .addHelpText(
      'after',
      '\nExamples:\n  vt db migrate --dry-run\n  vt db migrate --db postgres://vt_owner@db.internal/vt',
    )
    .action(
      withCtx(async (ctx, o: { dryRun?: boolean }) => {
        const { requireKnownSchema, schemaStatus } = await import('../../store/migrate.ts');
        const { applyMigrations } = await import('../../store/store.ts');
        const store = await openUnmigrated(ctx);
        try {
          const s = await schemaStatus(store.db);
          requireKnownSchema(s, store.location);
          let applied: string[] = [];
          if (!o.dryRun && s.pending.length) {
            applied = await applyMigrations(store);
          }
          if (ctx.json)
            json(ctx.io, { location: store.location, pending: s.pending, applied, dryRun: !!o.dryRun });
          else for (const m of o.dryRun ? s.pending : applied) ctx.io.out(`${m}\n`);
          ctx.io.err(
            s.pending.length
              ? `${paint(ctx.color, 'green', '✓')} ${o.dryRun ? 'would apply' : 'applied'} ${s.pending.length} migration(s) to ${store.location}\n`
              : `${paint(ctx.color, 'green', '✓')} ${store.location} is current; nothing to apply\n`,
          );
          return 0;
        } finally {
          await store.close();
        }
      }),
    );

  db.command('copy')
    .description(
      'copy a whole store into an empty one (SQLite ⇄ PostgreSQL), then verify every chain and the Merkle log',
    )
    .requiredOption('--from <store>', 'the source: a SQLite path or a postgres:// URL (read only)')
    .requiredOption('--to <store>', 'the target: an empty SQLite file or PostgreSQL database')
    .addHelpText(
      'after',
      '\nExamples:\n  vt db copy --from .vt/vt.db --to postgres://vt@127.0.0.1/vt\n  vt db copy --from postgres://vt@127.0.0.1/vt --to backup.db',
    )
    .action(
      withCtx(async (ctx, o: { from: string; to: string }) => {
        const { openStore } = await import('../../store/store.ts');
        const { copyStore } = await import('../../audit/store-copy.ts');
        const { schemaStatus } = await import('../../store/migrate.ts');
        if (o.from === o.to) throw new VtError('BAD_INPUT', '--from and --to name the same store');
        const from = await openStore(o.from, { migrate: 'never' });
        try {
          const s = await schemaStatus(from.db);
          if (s.pending.length || s.unknown.length)
            throw new VtError('STORE_ERROR', `the source ${from.location} is not at this vt's schema`, {
              hint: s.pending.length ? `Migrate it first: vt db migrate --db ${o.from}` : 'Upgrade vt',
            });
          const to = await openStore(o.to);
          try {
            const r = await copyStore(from, to, (table, rows) => ctx.io.err(`  ${table}: ${rows} rows\n`));
            if (ctx.json) json(ctx.io, r);
            else ctx.io.out(`${r.to}\n`);
            ctx.io.err(
              `${paint(ctx.color, 'green', '✓')} copied ${r.events} events in ${r.projects} chains to ${r.to}; every chain and the Merkle log verify\n`,
            );
            return 0;
          } finally {
            await to.close();
          }
        } finally {
          await from.close();
        }
      }),
    );

  db.command('app-role')
    .description('print SQL creating a PostgreSQL role that can run vt but cannot edit or delete events')
    .argument('<role>', 'the role name, e.g. vt_app')
    .addHelpText('after', '\nExamples:\n  vt db app-role vt_app | psql "postgres://owner@db.internal/vt"')
    .action(
      withCtx(async (ctx, role: string) => {
        const { appRoleSql } = await import('../../store/dialects/postgres.ts');
        ctx.io.out(appRoleSql(role));
        return 0;
      }),
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
        const store = sqliteFile(
          ctx,
          'A PostgreSQL store backs up to a SQLite file with: vt db copy --from "$VT_DATABASE_URL" --to FILE (one snapshot, verified), or with pg_dump',
        );
        const { assertStoreFileSound } = await import('../../store/sqlite-file.ts');
        if (!existsSync(store))
          throw new VtError('NOT_FOUND', `there is no store at ${store}`, {
            hint: 'Create one with: vt init',
          });
        assertStoreFileSound(store);
        const { backupSqliteStore } = await import('../../audit/store-backup.ts');
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
        const { planRestore, restoreSqliteStore } = await import('../../audit/store-backup.ts');
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
        const { importBundle } = await import('../../audit/store-import.ts');
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
      'check the store: file, SQLite integrity, hash chains, Merkle log, projections, trains (exit 1 on a problem)',
    )
    .addHelpText('after', '\nExamples:\n  vt db check\n  vt db check --json | jq .ok')
    .action(
      withCtx(async (ctx) => {
        const store = sqliteFile(ctx);
        const { checkSqliteStore } = await import('../../audit/store-check.ts');
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

  return db;
}
