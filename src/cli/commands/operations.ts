import type { Command } from 'commander';
import type { PlanRow } from '../../store/schedules.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { badge, json, paint, safe, table } from '../output.ts';
import { proofHere } from '../signing.ts';
import { KEY_FLAG, KEY_HELP, SIGNING_NOTE } from './work.ts';

/** "in 3d" / "2h overdue" on a terminal; the ISO time when piped. */
export function dueIn(ctx: CliContext, iso: string, now: Date): string {
  if (!ctx.io.isTTY) return iso;
  const s = Math.round((Date.parse(iso) - now.getTime()) / 1000);
  const span = (x: number) =>
    x < 60
      ? `${x}s`
      : x < 3600
        ? `${Math.round(x / 60)}m`
        : x < 86400
          ? `${Math.round(x / 3600)}h`
          : `${Math.round(x / 86400)}d`;
  return s >= 0 ? `in ${span(s)}` : `${span(-s)} overdue`;
}

function nextOf(r: PlanRow): string {
  if (r.next === 'ticket') return `ticket ${r.ticket} (${r.ticket_status})`;
  if (r.next === 'visit') return `scheduled visit, ${r.schedule}`;
  return `nothing queued: vt plan ${r.project}`;
}

export function registerOperations(program: Command, withCtx: WithCtx): void {
  program
    .command('plan')
    .description(
      "what falls due next: each working project's open ticket or scheduled visit; with PROJECT, also the Conductor's planning step (queue its phase's work if none is open and no schedule holds it back)",
    )
    .argument('[project]', 'plan this project (queues work); without it, only show every working project')
    .option('--wide', 'do not truncate')
    .addHelpText(
      'after',
      '\nA scheduled phase (`schedule:` in the train) is never queued early: its visit is queued when it falls due,\nby the autopilot or by vt plan PROJECT.\n\nExamples:\n  vt plan                  # every working project: its ticket, or when its next visit falls due\n  vt plan churn-model      # queue the current phase of churn-model if nothing is open\n  vt plan --json | jq \'.[] | select(.next == "visit") | .due_at\'',
    )
    .action(
      withCtx(async (ctx, project: string | undefined, o: { wide?: boolean }) => {
        // Without a project vt plan only reads; with one it may queue that project's work.
        const { engine, store } = await ctx.vt(project ? {} : { readonly: true });
        const { planRows } = await import('../../store/schedules.ts');
        let queued: string | null = null;
        if (project) {
          const { Schedules } = await import('../../engine/schedule-ops.ts');
          queued = await new Schedules(engine).plan(project, ctx.who);
        }
        const now = engine.clock.now();
        const rows = await planRows(store.db, now, project);
        if (ctx.json) {
          if (project) json(ctx.io, { ...rows[0], queued: queued !== null });
          else json(ctx.io, rows);
        } else {
          ctx.io.out(
            table(
              ctx.io,
              ['project', 'status', 'phase', 'next', 'due'],
              rows.map((r) => [
                r.project,
                badge(r.status as never, ctx.color),
                r.phase,
                nextOf(r),
                r.due_at ? dueIn(ctx, r.due_at, now) : r.next === 'ticket' ? 'now' : '',
              ]),
              o,
            ),
          );
        }
        if (queued) ctx.io.err(`${paint(ctx.color, 'green', '✓')} queued ${queued}; run: vt autopilot\n`);
        else if (project && rows[0]?.next === 'visit')
          ctx.io.err(
            `${project} waits in ${rows[0].phase}: its visit falls due ${rows[0].due_at}; the autopilot queues it then (vt autopilot --watch waits for it)\n`,
          );
        else if (!rows.length) ctx.io.err('no working project: create one with vt project create NAME\n');
        return 0;
      }),
    );

  program
    .command('retire')
    .description(
      "take an operating project out of service: its work ends on the record (a person's decision, with a reason)",
    )
    .argument('<project>')
    .requiredOption('--reason <text>', 'why the model leaves service (recorded)')
    .option(KEY_FLAG, KEY_HELP)
    .addHelpText(
      'after',
      SIGNING_NOTE +
        '\nOnly a project in operations is retired (see vt status); a project that never reached operations is cancelled\n(vt cancel). Open tickets are cancelled and open issues closed with it. Retiring is final.\n\nExample:\n  vt retire churn-model --reason "replaced by the pricing model; the service is switched off"',
    )
    .action(
      withCtx(async (ctx, project: string, o: { reason: string; key?: string }) => {
        const { engine } = await ctx.vt();
        const proof = await proofHere(ctx, engine, project, { kind: 'retire', reason: o.reason }, o.key);
        const c = await engine.lifecycle(project, 'retire', o.reason, ctx.who, proof);
        if (ctx.json) json(ctx.io, { project, status: c.state.status, phase: c.state.phase });
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} ${project} is ${badge(c.state.status, ctx.color)} (in ${c.state.phase}): ${safe(o.reason)}\n`,
        );
        return 0;
      }),
    );
}
