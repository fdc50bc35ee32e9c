import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AuditDir, readVerifierKeyFile } from '../../audit/audit-dir.ts';
import type { BundleResult } from '../../audit/bundle.ts';
import type { TrailResult } from '../../audit/verify-log.ts';
import { VtError } from '../../errors.ts';
import type { ErasureRecord } from '../../store/chain.ts';
import { parseErasureMarker } from '../../store/erasure-marker.ts';
import { auditFolder, verifierKeyFor } from '../audit-folder.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint, safe, table, when } from '../output.ts';
import { registerAuditDecision } from './audit-decision.ts';
import { registerAuditLog } from './audit-log.ts';

const chains = (n: number) => `${n} chain${n === 1 ? '' : 's'}`;

function reportErasures(ctx: CliContext, erasures: readonly ErasureRecord[]): void {
  for (const e of erasures)
    ctx.io.err(
      `  erased: ${e.project_id}#${e.seq} (${e.type}) by ${safe(e.actor)} at ${e.ts} (#${e.by_seq}): ${safe(e.reason)}\n`,
    );
}

function reportTrail(ctx: CliContext, r: TrailResult, what: string): number {
  if (ctx.json) json(ctx.io, r);
  const ok = paint(ctx.color, 'green', '✓');
  const bad = paint(ctx.color, 'red', '✗');
  const warn = paint(ctx.color, 'yellow', '⚠');
  const d = r.decisions;
  const signed = `; ${d.checked} decision${d.checked === 1 ? '' : 's'} (${d.signed} signed)`;
  if (r.firstBad && !r.findings.some((f) => f.message === r.firstBad!.reason))
    ctx.io.err(
      `${bad} ${what}: event ${r.firstBad.project_id}#${r.firstBad.seq} does not verify: ${safe(r.firstBad.reason)}\n`,
    );
  else ctx.io.err(`${ok} ${what}: ${r.checked} events in ${chains(r.projects)}${signed} verify\n`);
  for (const p of d.problems)
    ctx.io.err(
      `  ${bad} ${p.project_id}#${p.seq} ${p.type} by ${safe(p.actor)}: ${p.reason} (${safe(p.detail)})\n`,
    );
  reportErasures(ctx, r.erasures);
  const log = r.log;
  const cp = log.checkpoint;
  if (!log.findings.length)
    ctx.io.err(
      `${ok} Merkle log ${log.origin}: ${log.size} events, root ${log.root}${cp ? `; checkpoint of size ${cp.size} verifies (${cp.file})` : ''}\n`,
    );
  for (const f of r.findings) ctx.io.err(`${bad} ${f.kind}: ${safe(f.message)}\n`);
  for (const w of log.warnings) ctx.io.err(`${warn} ${w}\n`);
  return r.ok ? 0 : 1;
}

function reportBundle(ctx: CliContext, r: BundleResult, what: string): number {
  if (ctx.json) json(ctx.io, r);
  for (const w of r.warnings) ctx.io.err(`${paint(ctx.color, 'yellow', '⚠')} ${w}\n`);
  if (!r.ok) {
    const b = r.firstBad!;
    ctx.io.err(
      `${paint(ctx.color, 'red', '✗')} ${what}: ${b.project_id === '*' ? safe(b.reason) : `event ${b.project_id}#${b.seq} does not verify: ${b.reason}`}\n`,
    );
    for (const p of r.log?.problems.slice(1) ?? [])
      ctx.io.err(`${paint(ctx.color, 'red', '✗')} ${safe(p)}\n`);
    return 1;
  }
  ctx.io.err(
    `${paint(ctx.color, 'green', '✓')} ${what}: ${r.checked} events in ${chains(r.projects)} verify\n`,
  );
  reportErasures(ctx, r.erasures);
  const l = r.log;
  if (l)
    ctx.io.err(
      `${paint(ctx.color, 'green', '✓')} checkpoint ${l.origin} at size ${l.size}${l.signed ? ' signed by the key' : ' (signature not checked)'}; ${l.proofs} head proof${l.proofs === 1 ? ' verifies' : 's verify'}${l.previous !== null ? `; consistent with the previous export at size ${l.previous}` : ''}\n`,
    );
  return 0;
}

export function registerAudit(program: Command, withCtx: WithCtx): void {
  const audit = program
    .command('audit')
    .description(
      'verify, export and prove the audit trail: hash chains, the Merkle log and its signed checkpoints',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  vt audit verify\n  vt audit export release.vtb && vt audit verify --bundle release.vtb --key audit/log.pub\n  vt audit log churn',
    );
  audit
    .command('verify')
    .description(
      "recompute every chain and the Merkle log, check every person's decision's signature and the log against the signed checkpoints, name what is wrong; exit 1 on tampering",
    )
    .argument('[project]', "only this project's chain (the log is always checked whole)")
    .option('--bundle <file>', 'verify an exported bundle instead of the store (no database needed)')
    .option('--proof <file>', 'verify a proof written by vt audit prove or vt audit consistency')
    .option('--key <file>', "the log's verifier key (default: audit/log.pub)")
    .addHelpText(
      'after',
      `
A decision (approve, reject, waive, done, retry, hold, resume, cancel, reopen, upgrade, carry forward)
verifies when its signature is by a key the project's train listed for that person at the event's time,
over exactly the recorded decision; where the train requires signed decisions, an unsigned one fails.
--json lists every decision that does not verify under decisions.problems.
The store is checked in a worker thread whose heap is bounded (40 MiB; VT_VERIFY_HEAP_MB), so memory
stays flat however long the history; a check that needs more is run again without the bound.

Examples:
  vt audit verify
  vt audit verify churn --json | jq .decisions.problems
  vt audit verify --json
  vt audit verify --bundle release.vtb --key audit/log.pub
  vt audit prove churn 12 > proof.json && vt audit verify --proof proof.json --key audit/log.pub`,
    )
    .action(
      withCtx(
        async (ctx, project: string | undefined, o: { bundle?: string; proof?: string; key?: string }) => {
          const { verifyBundle } = await import('../../audit/bundle.ts');
          if (o.bundle) {
            const key = verifierKeyFor(ctx, o.key);
            return reportBundle(ctx, verifyBundle(resolve(ctx.cwd, o.bundle), { key }), o.bundle);
          }
          if (o.proof) return verifyProofFile(ctx, o.proof, o.key);
          const { verifyBounded, verifyHeapMb } = await import('../../audit/verify-bounded.ts');
          const heapMb = await verifyHeapMb(ctx.io.env);
          // Opened here too, so a missing or damaged store is named as for any command.
          const { store } = await ctx.vt({ readonly: true });
          const a = ctx.audit();
          const keyFile = o.key ? resolve(ctx.cwd, o.key) : null;
          if (keyFile) readVerifierKeyFile(keyFile); // a bad key file is named before any work
          const dir = a?.dir ?? null;
          let r = await verifyBounded({ target: ctx.dbTarget(), dir, keyFile, project }, heapMb);
          if (!r) {
            ctx.io.err(
              `${paint(ctx.color, 'yellow', '⚠')} the check needed more than ${heapMb} MiB of heap (VT_VERIFY_HEAP_MB); checking again without a bound\n`,
            );
            const { verifyTrail } = await import('../../audit/verify-log.ts');
            const key = keyFile ? readVerifierKeyFile(keyFile) : null;
            r = await verifyTrail(store.db, { dir: dir ? new AuditDir(dir) : null, key, project });
          }
          return reportTrail(ctx, r, store.location);
        },
      ),
    );
  registerAuditDecision(audit, withCtx);
  audit
    .command('export')
    .description(
      'write a bundle (manifest + JSONL events + signed checkpoint + proofs) that verifies offline with the public key',
    )
    .argument('<file>')
    .option('--project <id>', 'only this project')
    .option(
      '--since <file>',
      "prove consistency from this earlier bundle or checkpoint (default: the last export's)",
    )
    .addHelpText(
      'after',
      `
Examples:
  vt audit export release-1.vtb
  vt audit export release-2.vtb --since release-1.vtb
  vt audit verify --bundle release-2.vtb --key audit/log.pub`,
    )
    .action(
      withCtx(async (ctx, file: string, o: { project?: string; since?: string }) => {
        const [{ store, engine }, { exportLogBundle }, { loadLogKey }] = await Promise.all([
          ctx.vt({ readonly: true }),
          import('../../audit/bundle.ts'),
          import('../../audit/log-key.ts'),
        ]);
        const a = auditFolder(ctx);
        const path = resolve(ctx.cwd, file);
        const { manifest: m, checkpoint: kept } = await exportLogBundle(store, path, {
          now: engine.clock.now(),
          project: o.project,
          dir: a.dir,
          signer: loadLogKey(a.keyFile, { workspace: a.workspace }),
          since: o.since ? previousCheckpoint(resolve(ctx.cwd, o.since)) : null,
        });
        if (ctx.json) json(ctx.io, { file: path, ...m });
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} wrote ${path}: ${m.events} events, ${chains(Object.keys(m.heads).length)}, checkpoint of size ${kept.checkpoint.size}${m.log.previous ? ', consistent with the previous export' : ''}\n`,
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
    .option(
      '--key <file>',
      'sign with this key file (env VT_SIGNING_KEY); a .pub file means its key in ssh-agent',
    )
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
          o: { reason?: string; dryRun?: boolean; yes?: boolean; key?: string },
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
          const { proofHere } = await import('../signing.ts');
          const proof = await proofHere(ctx, engine, project, { kind: 'erase', seq, reason }, o.key);
          const c = await engine.erase(project, seq, reason, ctx.who, proof);
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

  registerAuditLog(audit, withCtx);

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

/** The checkpoint note of an earlier bundle (its manifest) or a checkpoint file. */
function previousCheckpoint(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VtError('NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`);
  }
  if (text.startsWith('{')) {
    const m = JSON.parse(text.split('\n')[0]!);
    if (m?.version !== 2 || typeof m.log?.checkpoint !== 'string')
      throw new VtError('BAD_INPUT', `${file} is not a bundle with a checkpoint (version 2)`);
    return m.log.checkpoint;
  }
  return text;
}

async function verifyProofFile(ctx: CliContext, file: string, keyFile: string | undefined): Promise<number> {
  const { verifyProofDoc } = await import('../../audit/proofs.ts');
  const key = verifierKeyFor(ctx, keyFile);
  if (!key)
    throw new VtError('BAD_INPUT', "checking a proof needs the log's verifier key", {
      hint: 'Pass --key audit/log.pub',
    });
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(resolve(ctx.cwd, file), 'utf8'));
  } catch (err) {
    throw new VtError('BAD_INPUT', `cannot read the proof ${file}: ${(err as Error).message}`);
  }
  const v = verifyProofDoc(doc, key);
  if (ctx.json) json(ctx.io, v);
  ctx.io.err(
    `${v.ok ? paint(ctx.color, 'green', '✓') : paint(ctx.color, 'red', '✗')} ${file}: ${safe(v.summary)}\n`,
  );
  return v.ok ? 0 : 1;
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
