import { appendFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { AutopilotOptions, IssueSource, Progress } from '../../autopilot/worker.ts';
import { VtError } from '../../errors.ts';
import { VT_JS } from '../../package.ts';
import { redact } from '../../redact.ts';
import { workspaceOf } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { badge, json, paint, safe, table, when } from '../output.ts';
import { proofHere } from '../signing.ts';
import { KEY_FLAG, KEY_HELP, printGates, SIGNING_NOTE } from './work.ts';

/** A `vt` launcher for executors' PATH, so a step script can call `vt tick ...` in its session. */
export function writeLauncher(root: string): string {
  const dir = join(root, '.vt', 'bin');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'vt');
  writeFileSync(file, `#!/bin/sh\nexec '${process.execPath}' '${VT_JS}' "$@"\n`);
  chmodSync(file, 0o755);
  return dir;
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new VtError('BAD_INPUT', `${name} must be an integer ≥ ${min}, not "${v}"`);
  return n;
};

/** Print autopilot progress: plain lines (with elapsed time) for people, JSON lines with --json. */
export function progressPrinter(ctx: CliContext, started = performance.now()): (p: Progress) => void {
  const c = ctx.color;
  const t = () => paint(c, 'gray', `${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s`);
  return (p) => {
    if (ctx.json) {
      ctx.io.out(`${JSON.stringify({ ts: new Date().toISOString(), ...p })}\n`);
      return;
    }
    const line = (s: string) => ctx.io.err(`${t()} ${s}\n`);
    switch (p.type) {
      case 'claimed':
        line(
          `${paint(c, 'cyan', '●')} ${p.ticket} ${p.mode === 'gates' ? 'gates only' : `attempt ${p.attempt}`}`,
        );
        break;
      case 'finished':
        line(
          `${p.outcome === 'reworked' ? paint(c, 'yellow', '↺') : paint(c, 'green', '✓')} ${p.ticket} ${p.outcome}${p.to ? ` → ${p.to}` : ''}  ${p.results
            .map((r) => `${r.gate} ${badge(r.status, c)}`)
            .join(', ')}`,
        );
        break;
      case 'failed':
        line(
          `${paint(c, 'red', p.blocked ? '⛔' : '✗')} ${p.ticket} ${p.blocked ? 'blocked' : `failed (attempt ${p.attempts})`}: ${safe(p.reason)}`,
        );
        break;
      case 'waiting':
        line(`${paint(c, 'yellow', '⏸')} ${p.ticket} ${p.status}: ${safe(p.reason)}`);
        break;
      case 'source-error':
        line(`${paint(c, 'yellow', '!')} ${p.source}: ${safe(p.reason)}`);
        break;
      case 'scheduled':
        line(
          `${paint(c, p.missed ? 'red' : 'cyan', '⏰')} ${p.project} ${p.phase}: the visit due ${p.due_at} is queued as ${p.ticket}${p.missed ? paint(c, 'red', ` (missed: ${Math.round(p.late_ms / 60_000)} min late, more than its period)`) : ''}`,
        );
        break;
      case 'schedule-error':
        line(`${paint(c, 'red', '!')} ${p.project} ${p.phase} (due ${p.due_at}): ${safe(p.reason)}`);
        break;
      case 'lost':
        line(`${paint(c, 'yellow', '!')} ${p.ticket}: ${safe(p.reason)}`);
        break;
      default:
        break;
    }
  };
}

/** Alerts go to stderr, to .vt/alerts.log, and (optionally) to a webhook. A failing webhook is logged, never fatal. */
export function alerter(ctx: CliContext, root: string, webhook: string | undefined) {
  return async (a: { project: string; ticket: string | null; reason: string }) => {
    const record = { ts: new Date().toISOString(), ...a, reason: redact(a.reason) };
    ctx.io.err(
      `${paint(ctx.color, 'red', '⛔ alert')} ${safe(record.reason)}\n  next: vt retry ${a.ticket ?? ''}\n`,
    );
    appendFileSync(join(root, '.vt', 'alerts.log'), `${JSON.stringify(record)}\n`);
    if (!webhook) return;
    try {
      const res = await fetch(webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'vt.alert', ...record }),
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) ctx.io.err(`  (alert webhook answered ${res.status})\n`);
    } catch (err) {
      ctx.io.err(`  (alert webhook failed: ${(err as Error).message})\n`);
    }
  };
}

export function registerAutopilot(program: Command, withCtx: WithCtx): void {
  program
    .command('autopilot')
    .description(
      "work the queue: claim tickets, run each role's executor, enforce the gates, retry, escalate",
    )
    .option('--once', 'stop when nothing is claimable right now')
    .option('--watch', 'keep waiting for new work when the queue is empty')
    .option('-c, --concurrency <n>', 'tickets in flight at once', int('--concurrency', 1), 1)
    .option('-p, --project <id>', 'only this project')
    .option('-l, --label <label...>', 'only tickets carrying these labels')
    .option(
      '--lease-ms <ms>',
      "lease length; a dead worker's ticket is taken over after it",
      int('--lease-ms', 100),
      30_000,
    )
    .option('--backoff-ms <ms>', 'first retry delay (doubles per attempt)', int('--backoff-ms', 0), 2000)
    .option('--workspaces <kind>', 'auto, git or folder', 'auto')
    .option('--alert-webhook <url>', 'POST alerts here (env VT_ALERT_WEBHOOK)')
    .option('--github <owner/repo>', 'also take work from GitHub Issues (token from GITHUB_TOKEN)')
    .option('--github-label <label>', 'the label that marks issues for the autopilot', 'autopilot')
    .addHelpText(
      'after',
      '\nExamples:\n  vt autopilot                      # until the queue is empty\n  vt autopilot --concurrency 4 --label auto\n  vt autopilot --json | jq .type    # one JSON object per line',
    )
    .action(
      withCtx(
        async (
          ctx,
          o: {
            once?: boolean;
            watch?: boolean;
            concurrency: number;
            project?: string;
            label?: string[];
            leaseMs: number;
            backoffMs: number;
            workspaces: string;
            alertWebhook?: string;
            github?: string;
            githubLabel: string;
          },
        ) => {
          if (!['auto', 'git', 'folder'].includes(o.workspaces))
            throw new VtError('BAD_INPUT', `--workspaces must be auto, git or folder, not "${o.workspaces}"`);
          const root = ctx.requireRoot();
          const [{ engine }, { Tickets }, { runAutopilot }, { openWorkspaces }] = await Promise.all([
            ctx.vt(),
            import('../../engine/ticket-ops.ts'),
            import('../../autopilot/worker.ts'),
            import('../../autopilot/workspace.ts'),
          ]);
          const tickets = new Tickets(engine);
          const sources: IssueSource[] = [];
          if (o.github) {
            const token = ctx.io.env.GITHUB_TOKEN;
            if (!token)
              throw new VtError(
                'BAD_INPUT',
                '--github needs a token in the GITHUB_TOKEN environment variable',
                {
                  hint: 'export GITHUB_TOKEN=… (a token with issues: read and write on the repository)',
                },
              );
            const { createGithubSource } = await import('../../autopilot/github.ts');
            sources.push(
              createGithubSource({
                engine,
                tickets,
                repo: o.github,
                label: o.githubLabel,
                defaultProject: o.project,
                token,
                baseUrl: ctx.io.env.VT_GITHUB_API_URL,
                onLog: (line) => ctx.io.err(`  github: ${safe(line)}\n`),
              }),
            );
          }
          // Webhook and MLflow deliveries, and the MLflow alias guard, ride along in the background.
          const { integrationSources } = await import('../../integrations/sources.ts');
          const { loadIntegrations } = await import('../../integrations/config.ts');
          const { nodeHttp } = await import('../../io/http.ts');
          const integrations = integrationSources({
            engine,
            tickets,
            config: await loadIntegrations(root, ctx.io.env),
            http: nodeHttp(ctx.io.env),
            onLog: (line) => ctx.io.err(`  ${safe(line)}\n`),
          });
          sources.push(...integrations.sources);
          const stop = new AbortController();
          const onSignal = () => stop.abort();
          process.once('SIGINT', onSignal);
          process.once('SIGTERM', onSignal);
          const opts: AutopilotOptions = {
            sources,
            concurrency: o.concurrency,
            once: !!o.once,
            watch: !!o.watch,
            project: o.project,
            labels: o.label,
            leaseMs: o.leaseMs,
            heartbeatMs: Math.max(Math.floor(o.leaseMs / 3), 50),
            backoffMs: o.backoffMs,
            pollMs: Math.min(500, o.leaseMs),
            onProgress: progressPrinter(ctx),
            onAlert: alerter(ctx, root, o.alertWebhook ?? ctx.io.env.VT_ALERT_WEBHOOK),
            signal: stop.signal,
          };
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
              opts,
            );
            if (ctx.json) json(ctx.io, { type: 'summary', ...summary });
            const waiting = summary.waiting ? `; ${summary.waiting} waiting for people (vt inbox)` : '';
            const scheduled = summary.next_due
              ? `\n  next scheduled visit falls due ${summary.next_due} (vt plan; vt autopilot --watch waits for it)`
              : '';
            if (summary.stopped === 'empty' && summary.claimed === 0)
              ctx.io.err(
                `the queue is empty${waiting}. Add work with: vt issue add TITLE --project P, or vt plan PROJECT${scheduled}\n`,
              );
            else
              ctx.io.err(
                `${summary.blocked ? paint(ctx.color, 'red', '⛔') : paint(ctx.color, 'green', '✓')} ${summary.finished} finished, ${summary.failed} failed attempts, ${summary.blocked} blocked${summary.scheduled ? `, ${summary.scheduled} scheduled visits queued${summary.missed ? ` (${summary.missed} missed)` : ''}` : ''}${waiting} (${summary.stopped})${scheduled}\n`,
              );
            if (summary.stopped === 'signal') return 130;
            // A run that blocked a ticket did not do its job: a negative verdict, for scripts and CI.
            if (summary.blocked) {
              ctx.io.err(`  ${summary.blocked} ticket(s) blocked: see vt inbox, then vt retry TICKET\n`);
              return 1;
            }
            return 0;
          } finally {
            await integrations.drain(5000);
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          }
        },
      ),
    );

  program
    .command('pause')
    .description('stop autopilots from claiming new tickets (running ones finish); undo with vt resume')
    .addHelpText('after', '\nExamples:\n  vt pause\n  vt resume')
    .action(
      withCtx(async (ctx) => {
        const { store, engine } = await ctx.vt();
        const { setControl } = await import('../../store/queue.ts');
        await setControl(store.db, 'paused', ctx.actor, engine.clock.now().toISOString());
        ctx.io.err(`${paint(ctx.color, 'yellow', '⏸')} paused; resume with: vt resume\n`);
        return 0;
      }),
    );
  program
    .command('abort')
    .description(
      'stop running autopilots now: their executors are killed and their tickets are retried later',
    )
    .addHelpText('after', '\nExamples:\n  vt abort\n  vt abort --clear')
    .option('--clear', 'clear a previous abort so autopilots can start again')
    .action(
      withCtx(async (ctx, o: { clear?: boolean }) => {
        const { store, engine } = await ctx.vt();
        const { setControl } = await import('../../store/queue.ts');
        await setControl(store.db, 'abort', o.clear ? null : ctx.actor, engine.clock.now().toISOString());
        ctx.io.err(
          o.clear
            ? 'abort cleared\n'
            : `${paint(ctx.color, 'green', '✓')} abort requested: running autopilots stop now; clear it with: vt abort --clear\n`,
        );
        return 0;
      }),
    );

  program
    .command('retry')
    .description('put a blocked ticket back in the queue with fresh attempts')
    .argument('<ticket>')
    .option(KEY_FLAG, KEY_HELP)
    .addHelpText('after', `${SIGNING_NOTE}\nExample:\n  vt retry churn-model-1-training`)
    .action(
      withCtx(async (ctx, ticket: string, o: { key?: string }) => {
        const [{ engine }, { Tickets }] = await Promise.all([ctx.vt(), import('../../engine/ticket-ops.ts')]);
        const tickets = new Tickets(engine);
        const project = await tickets.projectOf(ticket);
        const proof = await proofHere(ctx, engine, project, { kind: 'retry', ticket }, o.key);
        const c = await tickets.retry(ticket, ctx.who, proof);
        if (ctx.json) json(ctx.io, { ticket, status: c.state.tickets[ticket]?.status });
        ctx.io.err(
          `${paint(ctx.color, 'green', '✓')} ${ticket} is ${c.state.tickets[ticket]?.status}; next: vt autopilot\n`,
        );
        return 0;
      }),
    );

  program
    .command('done')
    .description(
      "say a person's ticket is done: its worktree is committed, the phase's gates are evaluated on it (exit 1 when one fails) and, when they pass, the autopilot takes it on",
    )
    .argument('<ticket>')
    .option(KEY_FLAG, KEY_HELP)
    .addHelpText('after', `${SIGNING_NOTE}\nExample:\n  vt done churn-model-1-scope-pitch`)
    .action(
      withCtx(async (ctx, ticket: string, o: { key?: string }) => {
        const [{ engine }, { Tickets }, { workspaceDir }] = await Promise.all([
          ctx.vt(),
          import('../../engine/ticket-ops.ts'),
          import('../../autopilot/workspace.ts'),
        ]);
        const root = ctx.requireRoot();
        const human = workspaceDir(root, `${ticket}.human`);
        const here = workspaceOf(ctx.cwd);
        const folder = existsSync(human) ? human : here ? here.workspace : undefined;
        const tickets = new Tickets(engine);
        const project = await tickets.projectOf(ticket);
        const proof = await proofHere(ctx, engine, project, { kind: 'done', ticket }, o.key);
        const c = await tickets.done(ticket, { ...ctx.who, workspace: folder }, proof);
        const status = c.state.tickets[ticket]?.status;
        if (ctx.json) json(ctx.io, { ticket, status, passed: c.passed, results: c.results });
        else printGates(ctx, c.results);
        if (status === 'awaiting-human') {
          ctx.io.err(
            `${paint(ctx.color, 'red', '✗')} ${ticket} stays with you: its gates did not pass. Fix what failed, then vt done ${ticket} again\n`,
          );
          return 1;
        }
        ctx.io.err(`${paint(ctx.color, 'green', '✓')} ${ticket} is ${status}; next: vt autopilot\n`);
        return 0;
      }),
    );

  program
    .command('inbox')
    .description('tickets waiting for a person: approvals, human work, blocked tickets')
    .addHelpText('after', '\nExamples:\n  vt inbox\n  vt inbox --json')
    .option('--wide', 'do not truncate')
    .action(
      withCtx(async (ctx, o: { wide?: boolean }) => {
        const { store } = await ctx.vt({ readonly: true });
        const { inboxRows } = await import('../../store/queue.ts');
        const rows = await inboxRows(store.db);
        if (ctx.json) {
          json(
            ctx.io,
            rows.map((r) => ({
              ticket: r.id,
              project: r.project_id,
              phase: r.phase,
              status: r.status,
              reason: r.reason,
              attempts: r.attempts,
              updated_at: r.updated_at,
            })),
          );
          return 0;
        }
        if (!rows.length) ctx.io.err('nothing waits for you\n');
        const next: Record<string, string> = {
          'awaiting-approval': 'vt approve',
          'awaiting-human': 'vt done',
          blocked: 'vt retry',
        };
        ctx.io.out(
          table(
            ctx.io,
            ['ticket', 'project', 'phase', 'status', 'why', 'since', 'next'],
            rows.map((r) => [
              r.id,
              r.project_id,
              r.phase,
              r.status,
              safe(r.reason ?? ''),
              when(ctx.io, r.updated_at),
              `${next[r.status]} ${r.status === 'awaiting-approval' ? r.project_id : r.id}`,
            ]),
            o,
          ),
        );
        return 0;
      }),
    );
}
