import { hostname } from 'node:os';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe } from '../output.ts';

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new VtError('BAD_INPUT', `${name} must be an integer ≥ ${min}, not "${v}"`);
  return n;
};

export const WORKER_HELP = `
Examples:
  vt worker                                     # on every machine that shares the store
  vt worker --concurrency 4 --health-file /run/vt-worker.json
  VT_DATABASE_URL=postgres://vt_app@db:5432/vt vt worker --label gpu

A worker runs until it is stopped. SIGTERM or SIGINT: it claims nothing more, gives tickets in
flight --grace-ms to finish, then hands back what is left (its sessions end as abandoned, the ticket
is queued again and its lease released, so another worker takes it at once); a second signal hands
back at once. On PostgreSQL an idle worker sleeps until the store notifies it (LISTEN/NOTIFY); on
SQLite it polls. Every state change is a line on stderr; --health-file keeps a JSON document current
(state, tickets in flight, counts, last error; rewritten at least every 5 s).

Exit codes: 0 stopped by a signal, every ticket finished or handed back; 1 stopped by \`vt abort\`, or
a ticket could not be handed back (another worker takes it when its lease expires); 2 bad usage;
3 the store could not be opened.`;

export function registerWorker(program: Command, withCtx: WithCtx): void {
  program
    .command('worker')
    .description(
      'run the autopilot as a long-lived service: any number of workers on any machines share the queue',
    )
    .option('-c, --concurrency <n>', 'tickets in flight at once', int('--concurrency', 1), 1)
    .option('-p, --project <id>', 'only this project')
    .option('-l, --label <label...>', 'only tickets carrying these labels')
    .option('--name <name>', 'the worker name recorded with its claims (default host:pid)')
    .option(
      '--lease-ms <ms>',
      "lease length; a dead worker's ticket is taken over after it",
      int('--lease-ms', 100),
      30_000,
    )
    .option('--backoff-ms <ms>', 'first retry delay (doubles per attempt)', int('--backoff-ms', 0), 2000)
    .option(
      '--grace-ms <ms>',
      'on SIGTERM, how long tickets in flight may finish',
      int('--grace-ms', 0),
      30_000,
    )
    .option('--health-file <file>', 'keep a JSON health document here')
    .option(
      '--poll-ms <ms>',
      'how often an idle worker looks for work unwoken (default 500 on SQLite; 30000 on PostgreSQL, which notifies)',
      int('--poll-ms', 10),
    )
    .option('--workspaces <kind>', 'auto, git or folder', 'auto')
    .option('--alert-webhook <url>', 'POST alerts here (env VT_ALERT_WEBHOOK)')
    .addHelpText('after', WORKER_HELP)
    .action(
      withCtx(
        async (
          ctx,
          o: {
            concurrency: number;
            project?: string;
            label?: string[];
            name?: string;
            leaseMs: number;
            backoffMs: number;
            graceMs: number;
            healthFile?: string;
            pollMs?: number;
            workspaces: string;
            alertWebhook?: string;
          },
        ) => {
          if (!['auto', 'git', 'folder'].includes(o.workspaces))
            throw new VtError('BAD_INPUT', `--workspaces must be auto, git or folder, not "${o.workspaces}"`);
          if (o.name !== undefined && !/^[\w.@:+-]{1,100}$/.test(o.name))
            throw new VtError('BAD_INPUT', `--name "${o.name}": letters, digits and . @ : + - _ only`);
          const root = ctx.requireRoot();
          const { openVt } = await import('../../wiring.ts');
          const { DbClock } = await import('../../store/db-clock.ts');
          const { Tickets } = await import('../../engine/ticket-ops.ts');
          const { runAutopilot } = await import('../../autopilot/worker.ts');
          const { notifyWake } = await import('../../autopilot/wake.ts');
          const { HealthReporter } = await import('../../autopilot/health.ts');
          const { openWorkspaces } = await import('../../autopilot/workspace.ts');
          const { alerter, progressPrinter, writeLauncher } = await import('./autopilot.ts');
          const { loadIntegrations } = await import('../../integrations/config.ts');
          const { integrationSources } = await import('../../integrations/sources.ts');
          const { nodeHttp } = await import('../../io/http.ts');

          const worker = o.name ?? `${hostname()}:${process.pid}`;
          // Timestamps and retry timers follow the database's clock (leases are timed in SQL anyway).
          // VT_WORKER_CLOCK=local keeps the machine's clock: for diagnosing, and for the fencing tests.
          const clockRef: { clock: InstanceType<typeof DbClock> | null } = { clock: null };
          const useDbClock = ctx.io.env.VT_WORKER_CLOCK !== 'local';
          const config = await loadIntegrations(root, ctx.io.env);
          const vt = await openVt(ctx.dbTarget(), {
            integrations: config,
            ...(useDbClock ? { clock: { now: () => clockRef.clock?.now() ?? new Date() } } : {}),
          });
          const stop = new AbortController();
          const hurry = new AbortController();
          const onSignal = () => (stop.signal.aborted ? hurry.abort() : stop.abort());
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
          let resync: NodeJS.Timeout | null = null;
          try {
            const { engine, store } = vt;
            if (useDbClock) {
              const c = new DbClock(store.db);
              await c.sync();
              clockRef.clock = c;
              resync = setInterval(() => void c.sync().catch(() => {}), 30_000);
              resync.unref();
            }
            const tickets = new Tickets(engine);
            const wakeKind = store.listen ? 'notify' : 'poll';
            const health = new HealthReporter({
              worker,
              store: { kind: store.kind, location: store.location, wake: wakeKind },
              file: o.healthFile,
              line: (s) => ctx.io.err(`${s}\n`),
            });
            const wake = notifyWake(store, (up, err) => health.listening(up, err));
            const integrations = integrationSources({
              engine,
              tickets,
              config,
              http: nodeHttp(ctx.io.env),
              onLog: (line) => ctx.io.err(`  ${safe(line)}\n`),
            });
            const print = progressPrinter(ctx);
            let code = 0;
            try {
              const summary = await runAutopilot(
                {
                  engine,
                  tickets,
                  workspaces: await openWorkspaces(root, o.workspaces as 'auto'),
                  root,
                  dbTarget: ctx.dbTarget(),
                  binDir: writeLauncher(root),
                },
                {
                  sources: integrations.sources,
                  worker,
                  concurrency: o.concurrency,
                  once: false,
                  watch: true,
                  project: o.project,
                  labels: o.label,
                  leaseMs: o.leaseMs,
                  heartbeatMs: Math.max(Math.floor(o.leaseMs / 3), 50),
                  backoffMs: o.backoffMs,
                  pollMs: Math.min(o.pollMs ?? 500, o.leaseMs),
                  idleMaxMs: o.pollMs ?? 30_000,
                  wake,
                  graceMs: o.graceMs,
                  hurry: hurry.signal,
                  surviveStoreErrors: true,
                  onProgress: (p) => {
                    health.observe(p);
                    print(p);
                  },
                  onAlert: alerter(ctx, root, o.alertWebhook ?? ctx.io.env.VT_ALERT_WEBHOOK),
                  signal: stop.signal,
                },
              );
              code = summary.stopped === 'aborted' || summary.lost > 0 ? 1 : 0;
              if (ctx.json) json(ctx.io, { type: 'summary', worker, ...summary });
              ctx.io.err(
                `${code ? paint(ctx.color, 'yellow', '!') : paint(ctx.color, 'green', '✓')} worker ${worker}: ${summary.finished} finished, ${summary.failed} failed attempts, ${summary.handedBack} handed back, ${summary.lost} lost (${summary.stopped})\n`,
              );
              return code;
            } catch (err) {
              code = 3;
              throw err;
            } finally {
              health.close(code);
              await integrations.drain(5000);
            }
          } finally {
            if (resync) clearInterval(resync);
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            await vt.close();
          }
        },
      ),
    );
}
