import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { DecisionAudit } from '../../audit/decisions.ts';
import { VtError } from '../../errors.ts';
import type { VerifyResult } from '../../store/chain.ts';
import { parseErasureMarker } from '../../store/erasure-marker.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table, when } from '../output.ts';
import { registerAuditDecision } from './audit-decision.ts';

function report(ctx: CliContext, r: VerifyResult & { decisions?: DecisionAudit }, what: string): number {
  if (ctx.json) json(ctx.io, r);
  const d = r.decisions;
  const signed = d ? `; ${d.checked} decision${d.checked === 1 ? '' : 's'} (${d.signed} signed)` : '';
  if (r.ok) {
    ctx.io.err(
      `${paint(ctx.color, 'green', '✓')} ${what}: ${r.checked} events in ${r.projects} chain${r.projects === 1 ? '' : 's'}${signed} verify\n`,
    );
    for (const e of r.erasures)
      ctx.io.err(
        `  erased: ${e.project_id}#${e.seq} (${e.type}) by ${safe(e.actor)} at ${e.ts} (#${e.by_seq}): ${safe(e.reason)}\n`,
      );
    return 0;
  }
  const b = r.firstBad!;
  ctx.io.err(
    `${paint(ctx.color, 'red', '✗')} ${what}: event ${b.project_id}#${b.seq} does not verify: ${safe(b.reason)}\n`,
  );
  for (const p of d?.problems ?? [])
    ctx.io.err(
      `  ${paint(ctx.color, 'red', '✗')} ${p.project_id}#${p.seq} ${p.type} by ${safe(p.actor)}: ${p.reason} (${safe(p.detail)})\n`,
    );
  return 1;
}

export function registerAudit(program: Command, withCtx: WithCtx): void {
  const audit = program
    .command('audit')
    .description('verify, export and read the hash-chained audit trail')
    .addHelpText(
      'after',
      '\nExamples:\n  vt audit verify\n  vt audit export audit.jsonl && vt audit verify --bundle audit.jsonl\n  vt audit log churn',
    );
  audit
    .command('verify')
    .description(
      "recompute every chain (or a bundle offline), check every person's decision's signature, and name the first bad event; exit 1 on tampering",
    )
    .argument('[project]', 'only this project')
    .option('--bundle <file>', 'verify an exported bundle instead of the store (no database needed)')
    .addHelpText(
      'after',
      "\nA decision (approve, reject, waive, done, retry, hold, resume, cancel, reopen, upgrade, carry forward)\nverifies when its signature is by a key the project's train listed for that person at the event's time,\nover exactly the recorded decision; where the train requires signed decisions, an unsigned one fails.\n--json lists every decision that does not verify under decisions.problems.\n\nExamples:\n  vt audit verify\n  vt audit verify churn --json | jq .decisions.problems\n  vt audit verify --bundle audit.jsonl",
    )
    .action(
      withCtx(async (ctx, project: string | undefined, o: { bundle?: string }) => {
        const { verifyBundle, verifyStore } = await import('../../audit/audit.ts');
        if (o.bundle) return report(ctx, verifyBundle(resolve(ctx.cwd, o.bundle)), o.bundle);
        const { store } = await ctx.vt({ readonly: true });
        return report(ctx, await verifyStore(store.db, project), store.location);
      }),
    );
  registerAuditDecision(audit, withCtx);
  audit
    .command('export')
    .description('write a self-contained bundle (manifest + JSONL events) that verifies offline')
    .addHelpText(
      'after',
      '\nExamples:\n  vt audit export audit.jsonl\n  vt audit export churn.jsonl --project churn',
    )
    .argument('<file>')
    .option('--project <id>', 'only this project')
    .action(
      withCtx(async (ctx, file: string, o: { project?: string }) => {
        const [{ store, engine }, { exportBundle }] = await Promise.all([
          ctx.vt({ readonly: true }),
          import('../../audit/audit.ts'),
        ]);
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
    .option('--limit <n>', 'the newest N events (default 50; says how many are hidden)', (v) => Number(v))
    .option('--all', 'every event')
    .option('--wide', 'do not truncate (piped output never is)')
    .addHelpText(
      'after',
      '\nExamples:\n  vt audit log churn\n  vt audit log churn --all --wide\n  vt audit log churn --json | jq \'.[] | select(.type == "phase.advanced")\'',
    )
    .action(
      withCtx(async (ctx, project: string, o: { limit?: number; all?: boolean; wide?: boolean }) => {
        if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit <= 0))
          throw new VtError('BAD_INPUT', '--limit must be a positive integer');
        const limit = o.all ? Number.MAX_SAFE_INTEGER : (o.limit ?? 50);
        const { store } = await ctx.vt({ readonly: true });
        const total = Number(
          (
            await store.db
              .selectFrom('events')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('project_id', '=', project)
              .executeTakeFirstOrThrow()
          ).n,
        );
        const rows = (
          await store.db
            .selectFrom('events')
            .selectAll()
            .where('project_id', '=', project)
            .orderBy('seq', 'desc')
            .limit(limit)
            .execute()
        ).reverse();
        if (!rows.length) throw new VtError('NOT_FOUND', `no project "${project}"`);
        if (rows.length < total)
          ctx.io.err(
            `showing the newest ${rows.length} of ${total} events; ${total - rows.length} older ones are hidden (--limit N, or --all)\n`,
          );
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

  const admin = program
    .command('admin')
    .description('maintenance')
    .addHelpText('after', '\nExamples:\n  vt admin rebuild');
  admin
    .command('rebuild')
    .description('rebuild every projection table from the events, in one transaction')
    .addHelpText(
      'after',
      '\nExamples:\n  vt admin rebuild\n  vt db check   # compares projections with a rebuild, changing nothing',
    )
    .action(
      withCtx(async (ctx) => {
        const [{ store }, { rebuildProjections }] = await Promise.all([
          ctx.vt(),
          import('../../store/projector.ts'),
        ]);
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
