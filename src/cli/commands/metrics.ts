import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import type { WithCtx } from '../main.ts';
import { json } from '../output.ts';

const EXAMPLES = `
Examples:
  vt metrics                          the portfolio: every promise against its target, then the figures
  vt metrics --team growth            one team's projects
  vt metrics --project churn-model    one project, forecast from its team's history
  vt metrics --json | jq '.targets'   the ValueReport (see docs/analytics.md)
  vt metrics | grep ^forecast         piped: tab-separated rows, the section first
  vt metrics --at 2026-06-30 --baseline-days 120`;

const positiveInt = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new VtError('BAD_INPUT', `${flag} must be a positive whole number of days, not "${v}"`);
  return n;
};

export function registerMetrics(program: Command, withCtx: WithCtx): void {
  program
    .command('metrics')
    .description(
      'measure the promises: lead times, first-pass gate yield, automation, projects per person, cost, flow, traceability and forecasts',
    )
    .option('--project <id>', 'one project (forecast from its team)')
    .option('--team <team>', "one team's projects")
    .option('--window <days>', 'days in the projects-per-person window (default 30)')
    .option('--flow-days <days>', 'days of cumulative flow, ending today (default 90)')
    .option('--baseline-days <days>', 'time to deployment before Value Train, the base of the speed-up')
    .option('--at <time>', 'as of this ISO-8601 time: later events are ignored (default now)')
    .option('--wide', 'on a terminal, do not truncate tables or cut lists')
    .addHelpText('after', EXAMPLES)
    .action(
      withCtx(
        async (
          ctx,
          o: {
            project?: string;
            team?: string;
            window?: string;
            flowDays?: string;
            baselineDays?: string;
            at?: string;
            wide?: boolean;
          },
        ) => {
          if (o.project !== undefined && o.team !== undefined)
            throw new VtError('USAGE', 'choose --project or --team, not both');
          const now = o.at === undefined ? new Date() : new Date(o.at);
          if (Number.isNaN(now.getTime()))
            throw new VtError('BAD_INPUT', `--at must be an ISO-8601 time such as 2026-06-30, not "${o.at}"`);
          let baselineDays: number | undefined;
          if (o.baselineDays !== undefined) {
            baselineDays = Number(o.baselineDays);
            if (!(Number.isFinite(baselineDays) && baselineDays > 0))
              throw new VtError(
                'BAD_INPUT',
                `--baseline-days must be a positive number, not "${o.baselineDays}"`,
              );
          }
          const windowDays = positiveInt('--window', o.window);
          const flowDays = positiveInt('--flow-days', o.flowDays);
          const { store } = await ctx.vt();
          const { valueReport } = await import('../../analytics/index.ts');
          const report = await valueReport(store.db, {
            project: o.project,
            team: o.team,
            now,
            windowDays,
            flowDays,
            baselineDays,
          });
          if (ctx.json) {
            json(ctx.io, report);
            return 0;
          }
          if (!report.projects.total) {
            ctx.io.err('no projects yet: vt project create NAME\n');
            return 0;
          }
          const { printMetrics } = await import('../metrics-view.ts');
          printMetrics(ctx.io, report, { color: ctx.color, wide: o.wide });
          return 0;
        },
      ),
    );
}
