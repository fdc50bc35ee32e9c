import type { Command } from 'commander';
import type { AdvanceOutcome } from '../../engine/core.ts';
import { currentEvidence } from '../../engine/state.ts';
import { VtError } from '../../errors.ts';
import type { GateResult } from '../../gates/types.ts';
import { workspaceOf } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { badge, json, localIso, paint, safe, table, when } from '../output.ts';
import { callSessionTool } from '../session-client.ts';
import { proofHere } from '../signing.ts';
import { resolveProject } from './project.ts';

/** Gate results are the verdict these commands exist for: data, on stdout. */
export function printGates(ctx: CliContext, results: GateResult[]): void {
  for (const g of results) {
    ctx.io.out(`  ${badge(g.status, ctx.color)}  ${g.gate}: ${safe(g.message)}\n`);
    for (const ch of g.children ?? [])
      ctx.io.out(`      ${badge(ch.status, ctx.color)}  ${ch.gate}: ${safe(ch.message)}\n`);
  }
}

export const KEY_FLAG = '--key <file>';
export const KEY_HELP =
  'sign with this key file (env VT_SIGNING_KEY); a .pub file means its key in ssh-agent';
export const SIGNING_NOTE = `
A decision is signed with your key (--key, VT_SIGNING_KEY, ssh-agent, or your vt key: vt keys init)
when the project's train requires signed decisions or lists a key for you; see docs/identity.md.
`;

const done = (ctx: CliContext, text: string) => ctx.io.err(`${paint(ctx.color, 'green', '✓')} ${text}\n`);

/**
 * Parse "7d", "12h", "30m" or an ISO date into an absolute time. A date alone (2026-12-25) is
 * midnight in the local time zone (UTC with --utc), as a person means it; JavaScript would take UTC.
 */
export function parseExpiry(text: string, now: Date): Date {
  const m = /^(\d+)([dhm])$/.exec(text.trim());
  if (m)
    return new Date(
      now.getTime() + Number(m[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'],
    );
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (day) {
    const d = new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    if (d.getMonth() === Number(day[2]) - 1 && d.getDate() === Number(day[3])) return d;
    throw new VtError('BAD_INPUT', `--expires: ${text} is not a date`);
  }
  const t = Date.parse(text);
  if (Number.isNaN(t))
    throw new VtError('BAD_INPUT', `--expires must be like 7d, 12h or an ISO date, not "${text}"`);
  return new Date(t);
}

export function registerWork(program: Command, withCtx: WithCtx): void {
  program
    .command('tick')
    .description("tick a checklist item of the project's current phase (or reopen it, with a reason)")
    .argument('<project>')
    .argument('<item>', 'checklist item id')
    .option('--note <text>', 'a note kept with the tick')
    .option('--reopen', 'untick a ticked item (needs --reason; recorded)')
    .option('--reason <text>', 'why the item is reopened')
    .addHelpText(
      'after',
      '\nExamples:\n  vt tick churn problem-stated\n  vt tick churn problem-stated --reopen --reason "sponsor changed the goal"',
    )
    .action(
      withCtx(
        async (
          ctx,
          project: string,
          item: string,
          o: { note?: string; reopen?: boolean; reason?: string },
        ) => {
          const session = ctx.session();
          if (session && o.reopen) await callSessionTool(session, 'reopen_item', { project, item }); // refused there
          if (session) {
            const r = await callSessionTool(session, 'tick', {
              project,
              item,
              ...(o.note ? { note: o.note } : {}),
            });
            if (ctx.json) json(ctx.io, r);
            done(ctx, `ticked ${item}`);
            return 0;
          }
          const { engine } = await ctx.vt();
          const c = o.reopen
            ? await engine.reopenItem(project, item, o.reason ?? '', ctx.who)
            : await engine.tick(project, item, o.note ?? null, ctx.who);
          if (ctx.json) json(ctx.io, { project, item, ticked: !o.reopen, events: c.events.length });
          done(
            ctx,
            `${o.reopen ? 'reopened' : 'ticked'} ${item}${c.events.length || c.replayed ? '' : ' (already ticked)'}`,
          );
          return 0;
        },
      ),
    );

  const artifact = program
    .command('artifact')
    .description('record files a phase produced')
    .addHelpText('after', '\nExamples:\n  vt artifact add churn opportunity-brief docs/opportunity-brief.md');
  artifact
    .command('add')
    .description('record an artifact of the current phase: its file is hashed where it lies in the workspace')
    .argument('<project>')
    .argument('<artifact>', 'artifact id from the phase')
    .argument('[path]', 'path inside the workspace (default: the path the train gives)')
    .addHelpText('after', '\nExample:\n  vt artifact add churn opportunity-brief docs/opportunity-brief.md')
    .action(
      withCtx(async (ctx, project: string, id: string, path?: string) => {
        const session = ctx.session();
        if (session) {
          const r = (await callSessionTool(session, 'put_artifact', {
            project,
            artifact: id,
            ...(path ? { path } : {}),
          })) as { path?: string; sha256?: string; size?: number };
          if (ctx.json) json(ctx.io, { project, artifact: id, ...r });
          done(ctx, `recorded ${id}: ${r.path} sha256 ${r.sha256?.slice(0, 12)} ${r.size} bytes`);
          return 0;
        }
        const { engine } = await ctx.vt();
        // Run inside a ticket's workspace, the file is taken from there.
        const ws = workspaceOf(ctx.cwd);
        const c = await engine.addArtifact(project, id, path, {
          ...ctx.who,
          ...(ws ? { workspace: ws.workspace } : {}),
        });
        const rec = currentEvidence(c.state).artifacts[id];
        if (ctx.json) json(ctx.io, { project, artifact: id, ...rec });
        done(ctx, `recorded ${id}: ${rec?.path} sha256 ${rec?.sha256.slice(0, 12)} ${rec?.size} bytes`);
        return 0;
      }),
    );

  const metric = program
    .command('metric')
    .description('record metrics')
    .addHelpText(
      'after',
      '\nExamples:\n  vt metric set churn auc 0.91\n  vt metric list churn\n  vt metric history churn auc',
    );
  metric
    .command('set')
    .description('record a metric value for the project (in its current phase)')
    .argument('<project>')
    .argument('<name>', 'a metric declared in the train')
    .argument('<value>', 'a number')
    .addHelpText('after', '\nExample:\n  vt metric set churn auc 0.91')
    .action(
      withCtx(async (ctx, project: string, name: string, value: string) => {
        const n = Number(value);
        if (value.trim() === '' || !Number.isFinite(n))
          throw new VtError('BAD_INPUT', `"${value}" is not a finite number`);
        const session = ctx.session();
        if (session) {
          await callSessionTool(session, 'record_metric', { project, name, value: n });
          if (ctx.json) json(ctx.io, { project, name, value: n });
          done(ctx, `${name} = ${n}`);
          return 0;
        }
        const { engine } = await ctx.vt();
        await engine.setMetric(project, name, n, ctx.who);
        if (ctx.json) json(ctx.io, { project, name, value: n });
        done(ctx, `${name} = ${n}`);
        return 0;
      }),
    );

  metric
    .command('list')
    .alias('ls')
    .description("a project's metrics: the latest value of each, with its phase and when it was recorded")
    .argument('<project>')
    .addHelpText(
      'after',
      '\nExamples:\n  vt metric list churn\n  vt metric list churn --json | jq .auc.value',
    )
    .action(
      withCtx(async (ctx, project: string) => {
        const rows = await metricRows(ctx, project);
        const latest = new Map<string, MetricRow>();
        for (const r of rows) latest.set(r.name, r);
        const list = [...latest.values()].sort((a, b) => a.name.localeCompare(b.name));
        if (ctx.json) {
          json(ctx.io, Object.fromEntries(list.map((r) => [r.name, metricJson(r)])));
          return 0;
        }
        if (!list.length)
          ctx.io.err(
            `no metrics recorded for ${project}; record one with: vt metric set ${project} NAME VALUE\n`,
          );
        ctx.io.out(
          table(
            ctx.io,
            ['metric', 'value', 'phase', 'visit', 'actor', 'recorded'],
            list.map((r) => [r.name, String(r.value), r.phase, String(r.visit), r.actor, when(ctx.io, r.ts)]),
          ),
        );
        return 0;
      }),
    );
  metric
    .command('history')
    .description('every value a metric (or every metric) of a project was given, oldest first')
    .argument('<project>')
    .argument('[name]', 'only this metric')
    .addHelpText('after', '\nExamples:\n  vt metric history churn auc\n  vt metric history churn --json')
    .action(
      withCtx(async (ctx, project: string, name?: string) => {
        const rows = (await metricRows(ctx, project)).filter((r) => !name || r.name === name);
        if (ctx.json) {
          json(ctx.io, rows.map(metricJson));
          return 0;
        }
        if (!rows.length) ctx.io.err(`no values recorded${name ? ` for ${name}` : ''} in ${project}\n`);
        ctx.io.out(
          table(
            ctx.io,
            ['recorded', 'metric', 'value', 'phase', 'visit', 'actor', 'seq'],
            rows.map((r) => [
              when(ctx.io, r.ts),
              r.name,
              String(r.value),
              r.phase,
              String(r.visit),
              r.actor,
              String(r.seq),
            ]),
          ),
        );
        return 0;
      }),
    );

  const gate = program
    .command('gate')
    .description('evaluate quality gates')
    .addHelpText('after', '\nExamples:\n  vt gate check churn');
  gate
    .command('check')
    .description("evaluate the current phase's exit gates and record the results (exit 1 when one fails)")
    .argument('[project]')
    .addHelpText('after', '\nExample:\n  vt gate check churn --json')
    .action(
      withCtx(async (ctx, given?: string) => {
        const project = await resolveProject(ctx, given);
        const { engine } = await ctx.vt();
        const c = await engine.checkGates(project, ctx.who);
        if (ctx.json) json(ctx.io, { project, phase: c.state.phase, passed: c.passed, results: c.results });
        else {
          ctx.io.out(`gates of ${c.state.phase}: ${c.passed ? 'passed' : 'failed'}\n`);
          printGates(ctx, c.results);
        }
        return c.passed ? 0 : 1;
      }),
    );

  program
    .command('advance')
    .description('evaluate the exit gates and move on: next phase, a route, a rework loop, or stay (exit 1)')
    .argument('<project>')
    .addHelpText('after', '\nExample:\n  vt advance churn && vt status churn')
    .action(
      withCtx(async (ctx, project: string) => {
        const { engine } = await ctx.vt();
        const c = await engine.advance(project, ctx.who);
        if (ctx.json)
          json(ctx.io, {
            project,
            ...c.outcome,
            phase: c.state.phase,
            status: c.state.status,
            results: c.results,
          });
        else {
          printGates(ctx, c.results);
          ctx.io.out(`${describeOutcome(c.outcome, ctx)}\n`);
        }
        return c.outcome.outcome === 'advanced' || c.outcome.outcome === 'completed' ? 0 : 1;
      }),
    );

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(
        decision === 'approve'
          ? "approve the current phase's work (you need the gate's role and must not have done the work)"
          : "reject the current phase's work, with a reason; its approval gate fails until the evidence changes",
      )
      .argument('<project>')
      .option('--role <role>', 'the role you act in, when you hold several')
      .option('--reason <text>', decision === 'reject' ? 'why (required)' : 'a note')
      .option(KEY_FLAG, KEY_HELP)
      .addHelpText(
        'after',
        `${SIGNING_NOTE}\nExamples:\n  vt ${decision} churn --as lead${decision === 'reject' ? ' --reason "brief lacks a baseline"' : ''}\n  vt ${decision} churn --key ~/.ssh/id_ed25519${decision === 'reject' ? ' --reason "no baseline"' : ''}`,
      )
      .action(
        withCtx(async (ctx, project: string, o: { role?: string; reason?: string; key?: string }) => {
          const { engine } = await ctx.vt();
          const role = o.role ? { role: o.role } : {};
          const reason = decision === 'approve' ? (o.reason ?? null) : (o.reason ?? '');
          const proof = await proofHere(ctx, engine, project, { kind: decision, ...role, reason }, o.key);
          const c =
            decision === 'approve'
              ? await engine.approve(project, ctx.who, { ...role, reason, proof })
              : await engine.reject(project, ctx.who, { ...role, reason: reason ?? '', proof });
          if (ctx.json)
            json(ctx.io, { project, decision, phase: c.state.phase, actor: ctx.actor, signed: !!proof });
          done(
            ctx,
            `${decision === 'approve' ? 'approved' : 'rejected'} ${c.state.phase} as ${ctx.actor}${proof ? ` (signed${proof.method === 'ssh' ? ` with ${proof.key}` : ''})` : ''}`,
          );
          return 0;
        }),
      );
  }

  program
    .command('waive')
    .description(
      'waive a failing gate of the current phase until a date (waiver roles only; reason required)',
    )
    .argument('<project>')
    .argument('<gate>', 'gate id')
    .requiredOption('--reason <text>', 'why the gate may be skipped')
    .requiredOption('--expires <when>', 'e.g. 7d, 12h, or an ISO date')
    .option(KEY_FLAG, KEY_HELP)
    .addHelpText(
      'after',
      `${SIGNING_NOTE}\nExample:\n  vt waive churn latency --reason "load test env down" --expires 3d`,
    )
    .action(
      withCtx(
        async (
          ctx,
          project: string,
          gateId: string,
          o: { reason: string; expires: string; key?: string },
        ) => {
          const { engine } = await ctx.vt();
          const expires = parseExpiry(o.expires, engine.clock.now());
          const call = { kind: 'waive' as const, gate: gateId, reason: o.reason, expiresAt: expires };
          const proof = await proofHere(ctx, engine, project, call, o.key);
          await engine.waive(project, gateId, o.reason, expires, ctx.who, proof);
          if (ctx.json) json(ctx.io, { project, gate: gateId, expires_at: expires.toISOString() });
          done(ctx, `waived ${gateId} until ${localIso(expires)}`);
          return 0;
        },
      ),
    );

  const collect = (v: string, all: string[] = []) => [...all, v];
  program
    .command('carry')
    .description(
      "carry evidence of the phase's previous visit into this one (items, artifacts, metrics), with a reason; a new visit otherwise starts empty",
    )
    .argument('<project>')
    .option('--item <id>', 'a checklist item ticked in the previous visit (repeatable)', collect)
    .option('--artifact <id>', 'an artifact recorded in the previous visit (repeatable)', collect)
    .option('--metric <name>', 'a metric recorded in the previous visit (repeatable)', collect)
    .requiredOption('--reason <text>', 'why it still holds')
    .addHelpText(
      'after',
      '\nExample:\n  vt carry churn-model --item data-documented --artifact data-card --reason "the data did not change in this rework"',
    )
    .action(
      withCtx(
        async (
          ctx,
          project: string,
          o: { item?: string[]; artifact?: string[]; metric?: string[]; reason: string },
        ) => {
          const { engine } = await ctx.vt();
          const c = await engine.carryForward(
            project,
            { items: o.item ?? [], artifacts: o.artifact ?? [], metrics: o.metric ?? [], reason: o.reason },
            ctx.who,
          );
          if (ctx.json) json(ctx.io, { project, carried: c.events.length > 0 });
          done(
            ctx,
            `carried ${[...(o.item ?? []), ...(o.artifact ?? []), ...(o.metric ?? [])].join(', ')} into this visit`,
          );
          return 0;
        },
      ),
    );

  const lifecycle: [name: 'hold' | 'resume' | 'cancel' | 'reopen', what: string, reasonNeeded: boolean][] = [
    ['hold', 'put a project on hold: nothing moves until it is resumed', false],
    ['resume', 'resume a project on hold; with no project, resume the paused autopilot', false],
    ['cancel', 'cancel a project (needs --reason)', true],
    ['reopen', 'reopen a cancelled or completed project (needs --reason)', true],
  ];
  for (const [name, what, needed] of lifecycle) {
    program
      .command(name)
      .description(what)
      .argument(name === 'resume' ? '[project]' : '<project>')
      .option('--reason <text>', needed ? 'why (required)' : 'why')
      .option(KEY_FLAG, KEY_HELP)
      .addHelpText(
        'after',
        `${SIGNING_NOTE}\nExample${name === 'resume' ? 's' : ''}:\n  vt ${name} churn${needed ? ' --reason "sponsor withdrew"' : ''}${name === 'resume' ? '\n  vt resume            # with no project: let paused autopilots claim again' : ''}`,
      )
      .action(
        withCtx(async (ctx, project: string | undefined, o: { reason?: string; key?: string }) => {
          const { engine, store } = await ctx.vt();
          if (!project) {
            const { setControl } = await import('../../store/queue.ts');
            await setControl(store.db, 'paused', null, engine.clock.now().toISOString());
            done(ctx, 'the autopilot resumes claiming tickets');
            return 0;
          }
          const reason = o.reason ?? null;
          const proof = await proofHere(ctx, engine, project, { kind: name, reason }, o.key);
          const c = await engine.lifecycle(project, name, reason, ctx.who, proof);
          if (ctx.json) json(ctx.io, { project, status: c.state.status });
          done(ctx, `${project} is ${c.state.status}`);
          return 0;
        }),
      );
  }
}

interface MetricRow {
  seq: number;
  name: string;
  value: number;
  phase: string;
  visit: number;
  actor: string;
  ts: string;
}

const metricJson = (r: MetricRow) => ({
  name: r.name,
  value: r.value,
  phase: r.phase,
  visit: r.visit,
  actor: r.actor,
  recorded_at: r.ts,
  seq: r.seq,
});

/** Every metric value recorded for a project, oldest first; an unknown project is an error. */
async function metricRows(ctx: CliContext, project: string): Promise<MetricRow[]> {
  const { engine, store } = await ctx.vt({ readonly: true });
  await engine.state(project); // names an unknown project (with a suggestion)
  return store.db
    .selectFrom('metrics')
    .select(['seq', 'name', 'value', 'phase', 'visit', 'actor', 'ts'])
    .where('project_id', '=', project)
    .orderBy('seq')
    .orderBy('name')
    .execute();
}

export function describeOutcome(o: AdvanceOutcome, ctx: CliContext): string {
  const c = ctx.color;
  switch (o.outcome) {
    case 'advanced':
      return `${paint(c, 'green', '✓')} ${o.from} → ${o.to}${o.kind === 'route' ? ` (route: ${o.reason})` : ''}`;
    case 'completed':
      return `${paint(c, 'green', '✓')} ${o.from} was the last phase: the project is complete`;
    case 'reworked':
      return `${paint(c, 'yellow', '↺')} ${o.from} failed its gates: back to ${o.to} for rework`;
    case 'stayed':
      return `${paint(c, 'red', '✗')} ${o.from} stays: its ${o.blockedBy === 'entry' ? "next phase's entry" : 'exit'} gates did not pass. See: vt status`;
  }
}
