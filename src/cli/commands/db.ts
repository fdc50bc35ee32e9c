import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';

/** Open the store named by the context (or `target`) without migrating it. */
async function openUnmigrated(ctx: CliContext, target?: string) {
  const { openStore } = await import('../../store/store.ts');
  return openStore(target ?? ctx.dbTarget(), { migrate: 'never' });
}

/** `vt db …`: the store itself — its schema, and moving it between SQLite and PostgreSQL. */
export function registerDb(program: Command, withCtx: WithCtx): Command {
  const db = program
    .command('db')
    .description('the store: schema status and migrations, copies between SQLite and PostgreSQL');

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
    .description('copy a whole store into an empty one (SQLite ⇄ PostgreSQL), then verify every chain')
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
              `${paint(ctx.color, 'green', '✓')} copied ${r.events} events in ${r.projects} chains to ${r.to}; every chain verifies\n`,
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
  return db;
}
