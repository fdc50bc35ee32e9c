import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { VtError } from '../../errors.ts';
import { PRIORITIES, type Priority } from '../../types.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { badge, json, paint, safe, table, when } from '../output.ts';

/** The project named on the command line, or the only one in the store. */
export async function resolveProject(ctx: CliContext, given: string | undefined): Promise<string> {
  if (given) return given;
  const { store } = await ctx.vt({ readonly: true });
  const rows = await store.db.selectFrom('projects').select('id').limit(2).execute();
  if (rows.length === 1) return rows[0]!.id;
  throw new VtError(
    'USAGE',
    rows.length ? 'name the project: the store holds several' : 'the store holds no project yet',
    {
      hint: rows.length ? 'See them with: vt project list' : 'Create one with: vt project create NAME',
    },
  );
}

export function registerProject(program: Command, withCtx: WithCtx): void {
  const project = program
    .command('project')
    .description('create and list projects')
    .addHelpText(
      'after',
      '\nExamples:\n  vt project create "Churn model" --team growth\n  vt project list --json',
    );
  project
    .command('create')
    .description('start a project on the train in vt.yaml (pinning its content hash); prints the new id')
    .argument('<name>', 'project name')
    .option('--id <id>', 'project id (default: from the name)')
    .option('--team <team>', 'owning team')
    .option('--priority <p>', `priority: ${PRIORITIES.join(', ')}`)
    .option('--budget <amount>', 'budget (in your currency)', parseFloat)
    .addHelpText(
      'after',
      '\nExamples:\n  vt project create "Churn model" --team growth --priority now\n  id=$(vt project create "Fraud" --budget 20000)',
    )
    .action(
      withCtx(
        async (ctx, name: string, o: { id?: string; team?: string; priority?: string; budget?: number }) => {
          if (o.priority && !PRIORITIES.includes(o.priority as Priority))
            throw new VtError(
              'BAD_INPUT',
              `priority must be one of ${PRIORITIES.join(', ')}, not "${o.priority}"`,
            );
          if (o.budget !== undefined && Number.isNaN(o.budget))
            throw new VtError('BAD_INPUT', '--budget must be a number');
          const root = ctx.requireRoot();
          const [{ assertTrainSound }, { loadTrainFile }] = await Promise.all([
            import('../../train/lint.ts'),
            import('../../train/loader.ts'),
          ]);
          const loaded = loadTrainFile(join(root, TRAIN_FILE));
          assertTrainSound(loaded);
          const { engine } = await ctx.vt();
          const c = await engine.createProject(
            {
              id: o.id,
              name,
              team: o.team,
              priority: o.priority as Priority | undefined,
              budget: o.budget,
              workspace: root,
              train: loaded,
            },
            ctx.who,
          );
          if (ctx.json) json(ctx.io, { id: c.state.id, phase: c.state.phase, train_hash: c.state.trainHash });
          else ctx.io.out(`${c.state.id}\n`);
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} ${c.replayed ? 'already created' : 'created'} ${c.state.id} in phase ${c.state.phase}\n`,
          );
          return 0;
        },
      ),
    );
  project
    .command('upgrade')
    .description(
      "move a project to another version of its train (people, roles, gates...): refused when its current phase or this visit's evidence would not exist in the new one",
    )
    .argument('<project>')
    .option('--to <file>', 'the train file to move to (default: vt.yaml)')
    .requiredOption('--reason <text>', 'why (recorded with the differences)')
    .option(
      '--key <file>',
      'sign with this key file (env VT_SIGNING_KEY); a .pub file means its key in ssh-agent',
    )
    .addHelpText(
      'after',
      '\nAn upgrade is a person\'s decision: signed with your key when the project\'s train requires it or lists\na key for you (see docs/identity.md).\n\nExamples:\n  vt project upgrade churn-model --reason "ana joins the approvers"\n  vt project upgrade churn-model --to trains/v2.yaml --reason "adds a fairness gate"',
    )
    .action(
      withCtx(async (ctx, id: string, o: { to?: string; reason: string; key?: string }) => {
        const file = o.to ? resolve(ctx.cwd, o.to) : join(ctx.requireRoot(), TRAIN_FILE);
        const [{ assertTrainSound }, { loadTrainFile }] = await Promise.all([
          import('../../train/lint.ts'),
          import('../../train/loader.ts'),
        ]);
        const loaded = loadTrainFile(file);
        assertTrainSound(loaded);
        const { engine } = await ctx.vt();
        const { proofHere } = await import('../signing.ts');
        const call = { kind: 'upgrade' as const, to: loaded.train, toHash: loaded.hash, reason: o.reason };
        const proof = await proofHere(ctx, engine, id, call, o.key);
        const c = await engine.upgrade(id, loaded, o.reason, ctx.who, proof);
        const up = c.events.find((e) => e.type === 'project.upgraded');
        const diff = up?.type === 'project.upgraded' ? up.payload.diff : [];
        if (ctx.json) json(ctx.io, { project: id, train_hash: c.state.trainHash, upgraded: !!up, diff });
        else for (const line of diff) ctx.io.out(`${safe(line)}\n`);
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} ${up ? `${id} now follows ${loaded.train.name} ${loaded.hash.slice(0, 12)}` : `${id} already follows this train`}\n`,
        );
        return 0;
      }),
    );
  project
    .command('list')
    .alias('ls')
    .description('list projects: phase, status, priority, last change')
    .addHelpText('after', "\nExamples:\n  vt project list\n  vt project ls --json | jq -r '.[].id'")
    .option('--wide', 'do not truncate')
    .action(
      withCtx(async (ctx, o: { wide?: boolean }) => {
        const { store } = await ctx.vt({ readonly: true });
        const rows = await store.db.selectFrom('projects').selectAll().orderBy('id').execute();
        if (ctx.json) {
          json(
            ctx.io,
            rows.map((r) => ({
              id: r.id,
              name: r.name,
              team: r.team,
              priority: r.priority,
              budget: r.budget,
              phase: r.phase,
              status: r.status,
              visit: r.visit,
              transitions: r.transitions,
              created_at: r.created_at,
              updated_at: r.updated_at,
            })),
          );
          return 0;
        }
        if (!rows.length) ctx.io.err('no projects yet: vt project create NAME\n');
        ctx.io.out(
          table(
            ctx.io,
            ['id', 'phase', 'status', 'priority', 'team', 'updated'],
            rows.map((r) => [
              r.id,
              r.phase,
              badge(r.status as never, ctx.color),
              r.priority,
              r.team ?? '',
              when(ctx.io, r.updated_at),
            ]),
            o,
          ),
        );
        return 0;
      }),
    );

  program
    .command('status')
    .description(
      "a project's phase and visit, this visit's checklist, artifacts and metrics, and its last recorded gate evaluation",
    )
    .argument('[project]', 'project id (default: the only project)')
    .addHelpText(
      'after',
      '\nReading runs nothing: it shows the gates as they were last evaluated (vt gate check evaluates and records).\n\nExamples:\n  vt status churn-model\n  vt status --json | jq .evaluation',
    )
    .action(
      withCtx(async (ctx, given?: string) => {
        const id = await resolveProject(ctx, given);
        const [{ engine }, { statusView }] = await Promise.all([
          ctx.vt({ readonly: true }),
          import('../../engine/views.ts'),
        ]);
        const s = await engine.state(id);
        const v = statusView(s, await engine.train(s.trainHash));
        if (ctx.json) {
          json(ctx.io, v);
          return 0;
        }
        const c = ctx.color;
        const o = (t: string) => ctx.io.out(t);
        o(`${paint(c, 'bold', safe(s.name))} (${s.id})  ${badge(s.status, c)}\n`);
        o(
          `phase ${v.phase_index}/${v.phases}: ${paint(c, 'bold', v.phase)}  stage ${v.stage}, owner ${v.owner}, visit ${v.visit} of ${v.phase}\n`,
        );
        if (v.checklist.length) o('\nchecklist\n');
        for (const i of v.checklist)
          o(
            `  ${i.ticked ? paint(c, 'green', '✓') : paint(c, 'gray', '○')} ${i.id}${i.required ? '' : ' (optional)'}${i.carried_from ? ' (carried forward)' : ''}  ${paint(c, 'gray', safe(i.text))}\n`,
          );
        if (v.artifacts.length) o('\nartifacts\n');
        for (const a of v.artifacts)
          o(
            `  ${a.recorded ? paint(c, 'green', '✓') : paint(c, 'gray', '○')} ${a.id}  ${a.recorded ? `${a.recorded.path} ${a.recorded.sha256.slice(0, 12)} ${a.recorded.size} B` : a.path}\n`,
          );
        const metrics = Object.entries(v.metrics);
        if (metrics.length)
          o(`\nmetrics (this visit)\n${metrics.map(([k, m]) => `  ${k} = ${m}`).join('\n')}\n`);
        if (v.commit)
          o(
            `\ncommit ${v.commit.commit.slice(0, 12)}${v.commit.session ? ` (session ${v.commit.session})` : ''}\n`,
          );
        const e = v.evaluation;
        o(
          `\nexit gates${e ? `, as evaluated ${when(ctx.io, e.at)} by ${e.by}${e.stale ? ' (evidence changed since: vt gate check)' : ''}` : ': not evaluated in this visit (vt gate check)'}\n`,
        );
        for (const g of e?.results ?? []) o(`  ${badge(g.status, c)}  ${g.gate}: ${safe(g.message)}\n`);
        for (const w of v.waivers)
          o(
            `  ~ waiver of ${w.gate} by ${w.by}${w.confirmed_by ? ` and ${w.confirmed_by}` : ''} until ${w.expires_at}: ${safe(w.reason)}\n`,
          );
        if (v.schedule)
          o(
            v.schedule.ticket
              ? `\nscheduled visit (${v.schedule.schedule}) fell due ${v.schedule.due_at}: ticket ${v.schedule.ticket}\n`
              : `\nwaiting: the visit of ${v.schedule.phase} falls due ${v.schedule.due_at} (${v.schedule.schedule}); the autopilot queues it then\n`,
          );
        if (v.attention.length) o('\nwaiting for people\n');
        for (const t of v.attention) o(`  ${badge(t.status, c)}  ${t.ticket}: ${safe(t.reason)}\n`);
        return 0;
      }),
    );
}
