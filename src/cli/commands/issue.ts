import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { redact } from '../../redact.ts';
import { CONTEXT_KINDS, type ContextKind, PRIORITIES, type Priority, TICKET_STATUSES } from '../../types.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table, when } from '../output.ts';
import { callSessionTool } from '../session-client.ts';
import { resolveProject } from './project.ts';

export function registerIssue(program: Command, withCtx: WithCtx): void {
  const issue = program
    .command('issue')
    .description('the local queue of work: issues and their tickets')
    .addHelpText(
      'after',
      '\nExamples:\n  vt issue add "Carry churn through the train" --project churn\n  vt issue list --all',
    );
  issue
    .command('add')
    .description("queue work for a project's phase (default: its current phase); prints the new ticket id")
    .argument('<title>')
    .requiredOption('-p, --project <id>', 'the project')
    .option('--priority <p>', `${PRIORITIES.join(', ')} (default: the project's)`)
    .option('-l, --label <label...>', 'labels (the autopilot can require some)')
    .option('--phase <phase>', 'the phase the work belongs to')
    .addHelpText(
      'after',
      '\nExamples:\n  vt issue add "Carry churn through the train" --project churn --priority now --label auto',
    )
    .action(
      withCtx(
        async (
          ctx,
          title: string,
          o: { project: string; priority?: string; label?: string[]; phase?: string },
        ) => {
          if (o.priority && !PRIORITIES.includes(o.priority as Priority))
            throw new VtError(
              'BAD_INPUT',
              `--priority must be one of ${PRIORITIES.join(', ')}, not "${o.priority}"`,
            );
          const [{ engine }, { Tickets }] = await Promise.all([
            ctx.vt(),
            import('../../engine/ticket-ops.ts'),
          ]);
          const c = await new Tickets(engine).addIssue(
            o.project,
            { title, priority: o.priority as Priority | undefined, labels: o.label, phase: o.phase },
            ctx.who,
          );
          if (ctx.json) json(ctx.io, { issue: c.issue, ticket: c.ticket });
          else ctx.io.out(`${c.ticket}\n`);
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} queued ${c.ticket} (issue ${c.issue}); run: vt autopilot\n`,
          );
          return 0;
        },
      ),
    );
  issue
    .command('list')
    .alias('ls')
    .description('tickets: open ones by default, in the order the autopilot takes them')
    .addHelpText('after', '\nExamples:\n  vt issue list\n  vt issue list --project churn --all --json')
    .option('-p, --project <id>', 'only this project')
    .option('-a, --all', 'include finished tickets')
    .option('--wide', 'do not truncate')
    .action(
      withCtx(async (ctx, o: { project?: string; all?: boolean; wide?: boolean }) => {
        const { store } = await ctx.vt({ readonly: true });
        let q = store.db
          .selectFrom('tickets as t')
          .innerJoin('issues as i', 'i.id', 't.issue')
          .select([
            't.id',
            't.project_id',
            't.phase',
            't.status',
            't.priority',
            't.attempts',
            't.labels',
            't.updated_at',
            'i.title',
            'i.assignee',
          ]);
        if (o.project) q = q.where('t.project_id', '=', o.project);
        if (!o.all) q = q.where('t.status', 'not in', ['done', 'reworked', 'cancelled']);
        const rows = await q.orderBy('t.created_at').orderBy('t.seq').execute();
        if (ctx.json) {
          json(
            ctx.io,
            rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) })),
          );
          return 0;
        }
        if (!rows.length) ctx.io.err('no tickets; add one with: vt issue add TITLE --project P\n');
        ctx.io.out(
          table(
            ctx.io,
            ['ticket', 'status', 'priority', 'attempts', 'title', 'updated'],
            rows.map((r) => {
              const st = TICKET_STATUSES[r.status as keyof typeof TICKET_STATUSES];
              return [
                r.id,
                st ? `${st.glyph} ${st.word}` : r.status,
                r.priority,
                String(r.attempts),
                safe(r.title),
                when(ctx.io, r.updated_at),
              ];
            }),
            o,
          ),
        );
        return 0;
      }),
    );
  issue
    .command('assign')
    .description('assign an issue to a person (the autopilot leaves assigned issues alone), or --none')
    .addHelpText(
      'after',
      '\nExamples:\n  vt issue assign churn churn-1 alice\n  vt issue assign churn churn-1 --none',
    )
    .argument('<project>')
    .argument('<issue>')
    .argument('[assignee]')
    .option('--none', 'unassign')
    .action(
      withCtx(
        async (
          ctx,
          project: string,
          issueId: string,
          assignee: string | undefined,
          o: { none?: boolean },
        ) => {
          if (!assignee && !o.none) throw new VtError('USAGE', 'name the assignee, or pass --none');
          const [{ engine }, { Tickets }] = await Promise.all([
            ctx.vt(),
            import('../../engine/ticket-ops.ts'),
          ]);
          await new Tickets(engine).assign(project, issueId, o.none ? null : assignee!, ctx.who);
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} ${issueId} ${o.none ? 'unassigned' : `assigned to ${assignee}`}\n`,
          );
          return 0;
        },
      ),
    );

  const context = program
    .command('context')
    .description("a project's recorded facts, decisions, assumptions, risks and notes")
    .addHelpText(
      'after',
      '\nExamples:\n  vt context show churn --kind decision\n  vt context add churn decision "Use AUC as the success measure"',
    );
  context
    .command('show')
    .description('list context entries, newest first')
    .addHelpText('after', '\nExamples:\n  vt context show churn\n  vt context show churn --kind risk --json')
    .argument('[project]')
    .option('--kind <kind>', CONTEXT_KINDS.join(', '))
    .option('--phase <phase>', 'only this phase')
    .action(
      withCtx(async (ctx, given: string | undefined, o: { kind?: string; phase?: string }) => {
        const project = await resolveProject(ctx, given);
        const { store, engine } = await ctx.vt({ readonly: true });
        await engine.state(project); // an unknown project is an error, not an empty list
        let q = store.db.selectFrom('context').selectAll().where('project_id', '=', project);
        if (o.kind) q = q.where('kind', '=', o.kind);
        if (o.phase) q = q.where('phase', '=', o.phase);
        const rows = await q.orderBy('seq', 'desc').execute();
        if (ctx.json) json(ctx.io, rows);
        else
          ctx.io.out(
            table(
              ctx.io,
              ['kind', 'phase', 'actor', 'text'],
              rows.map((r) => [r.kind, r.phase, r.actor, r.text]),
            ),
          );
        return 0;
      }),
    );
  context
    .command('add')
    .description('record a context entry in the current phase (inside a session: bound to it)')
    .addHelpText(
      'after',
      '\nExamples:\n  vt context add churn decision "Use AUC as the success measure"\n  vt context add churn risk "Labels for 2024 are incomplete"',
    )
    .argument('<project>')
    .argument('<kind>', CONTEXT_KINDS.join(', '))
    .argument('<text>')
    .action(
      withCtx(async (ctx, project: string, kind: string, text: string) => {
        if (!CONTEXT_KINDS.includes(kind as ContextKind))
          throw new VtError('BAD_INPUT', `kind must be one of ${CONTEXT_KINDS.join(', ')}, not "${kind}"`);
        const session = ctx.session();
        if (session) {
          await callSessionTool(session, 'add_context', { project, kind, text });
          ctx.io.err(`${paint(ctx.color, 'green', '✓')} recorded ${kind}\n`);
          return 0;
        }
        const [{ engine }, { Tickets }] = await Promise.all([ctx.vt(), import('../../engine/ticket-ops.ts')]);
        const who = ctx.who;
        await new Tickets(engine).addContext(
          project,
          { kind: kind as ContextKind, text, session: who.session },
          who,
        );
        ctx.io.err(`${paint(ctx.color, 'green', '✓')} recorded ${kind}\n`);
        return 0;
      }),
    );

  program
    .command('handoff')
    .description("the handoff packet for the project's current phase (the stored one, or a fresh build)")
    .addHelpText('after', '\nExamples:\n  vt handoff churn\n  vt handoff churn --json | jq -r .text')
    .argument('[project]')
    .action(
      withCtx(async (ctx, given?: string) => {
        const project = await resolveProject(ctx, given);
        const { engine } = await ctx.vt({ readonly: true });
        const s = await engine.state(project);
        const stored = s.handoff;
        const root = ctx.root();
        const text = redact(
          stored && root && existsSync(join(root, stored.path))
            ? readFileSync(join(root, stored.path), 'utf8')
            : (await import('../../context/handoff.ts')).buildHandoff(s, await engine.train(s.trainHash))
                .text,
        );
        if (ctx.json) json(ctx.io, { project, phase: s.phase, visit: s.visit, stored: stored ?? null, text });
        else ctx.io.out(safe(text));
        return 0;
      }),
    );
}
