import { resolve } from 'node:path';
import type { Command } from 'commander';
import { exportBundle, verifyBundle, verifyStore } from '../../audit/audit.ts';
import { VtError } from '../../errors.ts';
import type { VerifyResult } from '../../store/chain.ts';
import { parseErasureMarker } from '../../store/erasure-marker.ts';
import { rebuildProjections } from '../../store/projector.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table, when } from '../output.ts';

function report(ctx: CliContext, r: VerifyResult, what: string): number {
  if (ctx.json) json(ctx.io, r);
  if (r.ok) {
    ctx.io.err(
      `${paint(ctx.color, 'green', '✓')} ${what}: ${r.checked} events in ${r.projects} chain${r.projects === 1 ? '' : 's'} verify\n`,
    );
    for (const e of r.erasures)
      ctx.io.err(
        `  erased: ${e.project_id}#${e.seq} (${e.type}) by ${safe(e.actor)} at ${e.ts} (#${e.by_seq}): ${safe(e.reason)}\n`,
      );
    return 0;
  }
  const b = r.firstBad!;
  ctx.io.err(
    `${paint(ctx.color, 'red', '✗')} ${what}: event ${b.project_id}#${b.seq} does not verify: ${b.reason}\n`,
  );
  return 1;
}

export function registerAudit(program: Command, withCtx: WithCtx): void {
  const audit = program.command('audit').description('verify, export and read the hash-chained audit trail');
  audit
    .command('verify')
    .description(
      'recompute every chain (or a bundle offline) and name the first bad event; exit 1 on tampering',
    )
    .argument('[project]', 'only this project')
    .option('--bundle <file>', 'verify an exported bundle instead of the store (no database needed)')
    .addHelpText('after', '\nExamples:\n  vt audit verify\n  vt audit verify --bundle audit.jsonl')
    .action(
      withCtx(async (ctx, project: string | undefined, o: { bundle?: string }) => {
        if (o.bundle) return report(ctx, verifyBundle(resolve(ctx.cwd, o.bundle)), o.bundle);
        const { store } = await ctx.vt();
        return report(ctx, await verifyStore(store.db, project), store.location);
      }),
    );
  audit
    .command('export')
    .description('write a self-contained bundle (manifest + JSONL events) that verifies offline')
    .argument('<file>')
    .option('--project <id>', 'only this project')
    .action(
      withCtx(async (ctx, file: string, o: { project?: string }) => {
        const { store, engine } = await ctx.vt();
        const path = resolve(ctx.cwd, file);
        const m = await exportBundle(store.db, path, engine.clock.now(), o.project);
        if (ctx.json) json(ctx.io, { file: path, ...m });
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} wrote ${path}: ${m.events} events, ${Object.keys(m.heads).length} chains\n`,
        );
        return 0;
      }),
    );
  audit
    .command('log')
    .description("a project's events: who did what, when")
    .argument('<project>')
    .option('--limit <n>', 'newest N events', (v) => Number.parseInt(v, 10), 50)
    .option('--wide', 'do not truncate (piped output never is)')
    .addHelpText(
      'after',
      '\nExamples:\n  vt audit log churn --limit 20\n  vt audit log churn --wide | grep refused',
    )
    .action(
      withCtx(async (ctx, project: string, o: { limit: number; wide?: boolean }) => {
        if (!Number.isInteger(o.limit) || o.limit <= 0)
          throw new VtError('BAD_INPUT', '--limit must be a positive integer');
        const { store } = await ctx.vt();
        const rows = (
          await store.db
            .selectFrom('events')
            .selectAll()
            .where('project_id', '=', project)
            .orderBy('seq', 'desc')
            .limit(o.limit)
            .execute()
        ).reverse();
        if (!rows.length)
          throw new VtError('NOT_FOUND', `no events for project "${project}"`, {
            hint: 'See: vt project list',
          });
        if (ctx.json) {
          json(
            ctx.io,
            rows.map((r) => ({ ...r, payload: JSON.parse(r.payload) })),
          );
          return 0;
        }
        ctx.io.out(
          table(
            ctx.io,
            ['seq', 'when', 'actor', 'type', 'summary', 'hash'],
            rows.map((r) => [
              String(r.seq),
              when(ctx.io, r.ts),
              r.actor,
              r.type,
              summarizeRow(r.type, r.payload, !!o.wide || !ctx.io.isTTY),
              r.hash.slice(0, 12),
            ]),
            o,
          ),
        );
        return 0;
      }),
    );

  audit
    .command('erase')
    .description(
      "erase an event's free text (a secret or personal data that reached the record): a person's decision, recorded; the chain still verifies",
    )
    .argument('<project>')
    .argument('<seq>', 'the event number (vt audit log PROJECT shows them)')
    .option('--reason <text>', 'who asked for the erasure and why (required, recorded)')
    .option('--dry-run', 'show what would be erased, change nothing')
    .option('--yes', 'erase without asking (needed when there is no terminal)')
    .addHelpText(
      'after',
      '\nExamples:\n  vt audit erase churn 42 --reason "API key pasted into a note; the key was rotated" --dry-run\n  vt audit erase churn 42 --reason "API key pasted into a note; the key was rotated" --yes',
    )
    .action(
      withCtx(
        async (
          ctx,
          project: string,
          seqText: string,
          o: { reason?: string; dryRun?: boolean; yes?: boolean },
        ) => {
          if (!/^[1-9]\d{0,14}$/.test(seqText))
            throw new VtError('BAD_INPUT', `"${seqText}" is not an event number (a whole number from 1)`, {
              hint: `See: vt audit log ${project}`,
            });
          const seq = Number(seqText);
          const reason = o.reason ?? '';
          const { engine } = await ctx.vt();
          const plan = await engine.planErasure(project, seq, reason, ctx.who);
          const what = `${project}#${seq} (${plan.type}): ${plan.fields.join(', ')}`;
          if (o.dryRun) {
            if (ctx.json) json(ctx.io, { project, seq, type: plan.type, fields: plan.fields, erased: false });
            ctx.io.err(`would erase ${what}\n`);
            return 0;
          }
          if (!o.yes && !(await confirm(ctx, `Erase ${what}? This cannot be undone. [y/N] `)))
            throw new VtError('BAD_INPUT', `not erased: confirm with --yes (${what})`, {
              hint: 'See what would change with --dry-run',
            });
          const c = await engine.erase(project, seq, reason, ctx.who);
          const e = c.erasure;
          if (ctx.json)
            json(ctx.io, {
              project,
              seq,
              type: e.type,
              fields: e.fields,
              erased: true,
              record: c.events[0]?.seq ?? null,
              compaction: e.compaction,
            });
          ctx.io.err(
            `${paint(ctx.color, 'green', '✓')} erased ${project}#${seq} (${e.type}): ${e.fields.join(', ')}; recorded as #${c.events[0]?.seq}\n`,
          );
          if (e.compaction.note) ctx.io.err(`  ${paint(ctx.color, 'gray', e.compaction.note)}\n`);
          ctx.io.err(
            `  ${paint(ctx.color, 'gray', 'Copies outside the store (exported bundles, handoff files and session logs under .vt/, sent webhooks) are not changed.')}\n`,
          );
          return 0;
        },
      ),
    );

  const admin = program.command('admin').description('maintenance');
  admin
    .command('rebuild')
    .description('rebuild every projection table from the events, in one transaction')
    .action(
      withCtx(async (ctx) => {
        const { store } = await ctx.vt();
        const r = await rebuildProjections(store);
        if (ctx.json) json(ctx.io, r);
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} rebuilt projections from ${r.events} events of ${r.projects} projects\n`,
        );
        return 0;
      }),
    );
}

/** An erased event says so, then shows what its residue kept. */
function summarizeRow(type: string, payload: string, full: boolean): string {
  const m = parseErasureMarker(payload);
  if (!m) return summarize(type, JSON.parse(payload), full);
  return `(erased by #${m.erased_by_seq}) ${summarize(type, m.residue, full)}`;
}

/** One line per event; `full` (with --wide, or piped) never cuts it. */
function summarize(type: string, p: Record<string, unknown>, full: boolean): string {
  const cut = (s: string) => (full ? s : s.slice(0, 60));
  switch (type) {
    case 'checklist.ticked':
    case 'checklist.reopened':
      return `${p.phase}/${p.item}`;
    case 'artifact.recorded':
      return `${p.artifact} ${p.path}`;
    case 'metric.recorded':
      return `${p.name}=${p.value}`;
    case 'gate.evaluated':
      return `${p.phase} ${p.side}: ${p.passed ? 'passed' : 'failed'}`;
    case 'phase.advanced':
      return `${p.from} → ${p.to} (${p.kind})`;
    case 'approval.recorded':
      return `${p.decision} ${p.phase} as ${p.role}`;
    case 'event.erased':
      return `#${p.seq} (${p.type}): ${p.reason}`;
    case 'session.tool-called':
      // The tool and the reason in full: the point of recording a refusal is to read why.
      return `${p.tool} ${p.outcome}${p.reason ? `: ${p.reason}` : ''} (${p.session})`;
    default:
      return cut(safe(JSON.stringify(p)));
  }
}

/** Ask on a terminal; without one (or with --json) there is nobody to ask: false. */
async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  if (!ctx.io.isTTY || ctx.json || !process.stdin.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
