import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table, when } from '../output.ts';

/** Wait `ms`, or less when the signal aborts. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new VtError('BAD_INPUT', `${name} must be an integer ≥ ${min}, not "${v}"`);
  return n;
};

/** What the guard watches: promote aliases of the live projects' mlflow gates, plus vt.yaml's list. */
async function watched(ctx: CliContext) {
  const { loadIntegrations } = await import('../../integrations/config.ts');
  const { watchList } = await import('../../integrations/mlflow/guard.ts');
  const { liveProjects } = await import('../../integrations/outbox-store.ts');
  const cfg = await loadIntegrations(ctx.root(), ctx.io.env);
  const { engine } = await ctx.vt();
  const projects = await Promise.all(
    (await liveProjects(engine.store.db)).map(async (p) => ({
      id: p.id,
      train: await engine.train(p.train_hash),
    })),
  );
  return watchList(
    projects,
    cfg.mlflow.guard.map((g) => ({ ...g, trackingUri: null })),
    cfg.mlflow.trackingUri,
  );
}

export function registerMlflow(program: Command, withCtx: WithCtx): void {
  const mlflow = program
    .command('mlflow')
    .description('MLflow: write-backs after passing promotion gates, and the champion alias guard')
    .addHelpText('after', '\nExamples:\n  vt mlflow status\n  vt mlflow deliver');

  mlflow
    .command('guard')
    .description(
      'check that promoted aliases moved only through passing vt gates; open an issue for each that did not',
    )
    .option('--watch', 'keep checking until interrupted')
    .option('--interval <s>', 'with --watch: seconds between checks', int('--interval', 1), 60)
    .addHelpText(
      'after',
      '\nThe guard watches the promote alias of every mlflow gate in live projects, and the aliases listed\nunder integrations.mlflow.guard in vt.yaml. The first sighting of an alias is taken as it is; a later\nmove to a version vt did not promote opens an issue for the improvement phase. Token from\nMLFLOW_TRACKING_TOKEN.\n\nExamples:\n  vt mlflow guard\n  vt mlflow guard --watch --interval 300 --json',
    )
    .action(
      withCtx(async (ctx, o: { watch?: boolean; interval: number }) => {
        const { guardAliases } = await import('../../integrations/mlflow/guard.ts');
        const { openGuardIssues } = await import('../../integrations/mlflow/tickets.ts');
        const { Tickets } = await import('../../engine/ticket-ops.ts');
        const { nodeHttp } = await import('../../io/http.ts');
        const { engine } = await ctx.vt();
        const tickets = new Tickets(engine);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        let flagged = 0;
        try {
          do {
            const watch = await watched(ctx);
            const report = await guardAliases({
              store: engine.store,
              http: nodeHttp(ctx.io.env),
              watch,
              now: engine.clock.now(),
            });
            const issues = await openGuardIssues(engine, tickets, report.flags, (line) =>
              ctx.io.err(`${paint(ctx.color, 'red', '!')} ${safe(line)}\n`),
            );
            flagged += report.flags.length;
            for (const e of report.errors) ctx.io.err(`${paint(ctx.color, 'yellow', '!')} ${safe(e)}\n`);
            if (ctx.json) json(ctx.io, { ...report, issues });
            if (!report.flags.length && !o.watch)
              ctx.io.err(
                watch.length
                  ? `${paint(ctx.color, 'green', '✓')} ${report.checked} alias${report.checked === 1 ? '' : 'es'} checked, none moved without a passing gate\n`
                  : 'nothing to watch: no mlflow gate promotes an alias, and integrations.mlflow.guard is empty\n',
              );
            if (o.watch) await pause(o.interval * 1000, stop.signal);
          } while (o.watch && !stop.signal.aborted);
        } finally {
          process.off('SIGINT', onSignal);
        }
        if (stop.signal.aborted) return 130;
        return flagged ? 1 : 0;
      }),
    );

  mlflow
    .command('deliver')
    .description(
      'send due write-backs now: tag the promoted version and move its alias (the autopilot does this too)',
    )
    .addHelpText('after', '\nExamples:\n  vt mlflow deliver\n  vt mlflow deliver --json')
    .action(
      withCtx(async (ctx) => {
        const { deliverPromotions } = await import('../../integrations/mlflow/writeback.ts');
        const { nodeHttp } = await import('../../io/http.ts');
        const { engine } = await ctx.vt();
        const r = await deliverPromotions({
          store: engine.store,
          http: nodeHttp(ctx.io.env),
          now: engine.clock.now(),
          onLog: (line) => ctx.io.err(`${safe(line)}\n`),
        });
        if (ctx.json) json(ctx.io, r);
        ctx.io.err(`${r.delivered} delivered, ${r.retried} to retry, ${r.refused.length} refused\n`);
        return r.refused.length ? 1 : 0;
      }),
    );

  mlflow
    .command('status')
    .description('watched aliases as last seen, and write-backs with their state')
    .addHelpText('after', '\nExamples:\n  vt mlflow status\n  vt mlflow status --json')
    .action(
      withCtx(async (ctx) => {
        const { aliasSighting, rowsOfKind, GAVE_UP_AT } = await import('../../integrations/outbox-store.ts');
        const { PROMOTE_KIND } = await import('../../integrations/mlflow/writeback.ts');
        const { store } = await ctx.vt();
        const aliases = await Promise.all(
          (await watched(ctx)).map(async (w) => {
            const seen = await aliasSighting(store.db, {
              tracking_uri: w.trackingUri,
              model: w.model,
              alias: w.alias,
            });
            return {
              tracking_uri: w.trackingUri,
              model: w.model,
              alias: w.alias,
              projects: w.projects,
              version: seen?.version ?? null,
              seen_at: seen?.seen_at ?? null,
              flagged: seen?.flagged_version || null,
            };
          }),
        );
        const writebacks = (await rowsOfKind(store.db, PROMOTE_KIND, 100)).map((r) => {
          const p = JSON.parse(r.payload) as {
            model: string;
            version: string;
            promote_alias: string;
            gate: string;
            phase: string;
          };
          return {
            id: r.id,
            project: r.project_id,
            move: `${p.model} @${p.promote_alias} -> v${p.version}`,
            gate: `${p.phase}/${p.gate}`,
            status: r.delivered_at ? 'delivered' : r.next_at === GAVE_UP_AT ? 'refused' : 'pending',
            attempts: r.attempts,
            created_at: r.created_at,
            last_error: r.last_error,
          };
        });
        if (ctx.json) {
          json(ctx.io, { aliases, writebacks });
          return 0;
        }
        ctx.io.out(
          table(
            ctx.io,
            ['MODEL', 'ALIAS', 'VERSION', 'SEEN', 'FLAGGED', 'PROJECTS'],
            aliases.map((a) => [
              a.model,
              a.alias,
              a.version ?? '-',
              a.seen_at ? when(ctx.io, a.seen_at) : 'never',
              a.flagged ?? '',
              a.projects.join(' '),
            ]),
          ),
        );
        if (writebacks.length)
          ctx.io.out(
            `\n${table(
              ctx.io,
              ['WHEN', 'PROJECT', 'MOVE', 'GATE', 'STATUS', 'TRIES', 'LAST ERROR'],
              writebacks.map((w) => [
                when(ctx.io, w.created_at),
                w.project,
                w.move,
                w.gate,
                w.status,
                String(w.attempts),
                safe(w.last_error ?? ''),
              ]),
            )}`,
          );
        return 0;
      }),
    );
}
