import { hostname } from 'node:os';
import { resolveExecutor } from '../agents/dispatch.ts';
import { phaseOf } from '../engine/core.ts';
import type { Engine } from '../engine/engine.ts';
import type { RecordedEvent } from '../engine/events.ts';
import type { Claim, Tickets } from '../engine/ticket-ops.ts';
import { startCommit } from '../engine/tickets.ts';
import { VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import type { GateResult } from '../gates/types.ts';
import { getControl, queueRows } from '../store/queue.ts';
import { nextDueAt } from '../store/schedules.ts';
import type { ExecutorSpec } from '../train/schema.ts';
import { queueDueVisits, type ScheduledOutcome } from './schedules.ts';
import { nextWake, selectTickets } from './select.ts';
import { runSession, sessionOf } from './session.ts';
import { runSupport } from './support.ts';
import { type Workspaces, workspaceDir } from './workspace.ts';

export interface AutopilotDeps {
  engine: Engine;
  tickets: Tickets;
  workspaces: Workspaces;
  /** The folder holding vt.yaml and .vt/. */
  root: string;
  /** The store, as executors' own `vt` calls should reach it. */
  dbTarget: string;
  /** A folder with a `vt` launcher, put first on executors' PATH. */
  binDir: string;
}

/** An outside queue (GitHub Issues): imports its work and delivers the outbox's side effects. */
export interface IssueSource {
  readonly name: string;
  /** Import new work as vt issues; returns how many were added. */
  sync(): Promise<number>;
  /** Deliver due outbox entries; returns how many were delivered. */
  deliver(): Promise<number>;
}

export interface AutopilotOptions {
  sources?: IssueSource[];
  worker?: string;
  concurrency: number;
  /** Stop when nothing is claimable right now, instead of waiting for backoffs and other workers. */
  once: boolean;
  /** Keep polling for new work instead of stopping when the queue is empty. */
  watch: boolean;
  project?: string | undefined;
  labels?: string[] | undefined;
  leaseMs: number;
  heartbeatMs: number;
  backoffMs: number;
  pollMs: number;
  handoffBudget?: number;
  onProgress?: (e: Progress) => void;
  onAlert?: (alert: { project: string; ticket: string | null; reason: string }) => Promise<void> | void;
  signal?: AbortSignal;
}

export type Progress =
  | {
      type: 'claimed';
      project: string;
      ticket: string;
      phase: string;
      mode: 'run' | 'gates';
      attempt: number;
    }
  | { type: 'session'; project: string; ticket: string; session: string; executor: string }
  | {
      type: 'finished';
      project: string;
      ticket: string;
      phase: string;
      outcome: string;
      to?: string;
      results: GateResult[];
    }
  | { type: 'failed'; project: string; ticket: string; reason: string; attempts: number; blocked: boolean }
  | { type: 'waiting'; project: string; ticket: string; status: string; reason: string }
  | { type: 'lost'; project: string; ticket: string; reason: string }
  | ScheduledOutcome
  | { type: 'idle'; waiting: number; until: string | null }
  | { type: 'source-error'; source: string; reason: string }
  | { type: 'stopped'; reason: string };

export interface AutopilotSummary {
  claimed: number;
  finished: number;
  failed: number;
  blocked: number;
  waiting: number;
  /** Scheduled visits this run queued when they fell due, and how many of them were missed. */
  scheduled: number;
  missed: number;
  /** The earliest scheduled visit still waiting for its due time when the run stopped. */
  next_due: string | null;
  stopped: 'empty' | 'once' | 'aborted' | 'signal';
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * The autopilot loop: claim the next ticket, prepare its workspace, open a session with a handoff
 * packet, run the owning role's executor, then evaluate the gates and advance, retry with backoff or
 * block. Every step is idempotent, so a ticket taken over after a crash resumes safely.
 */
export async function runAutopilot(deps: AutopilotDeps, opts: AutopilotOptions): Promise<AutopilotSummary> {
  const worker = opts.worker ?? `${hostname()}:${process.pid}`;
  const summary: AutopilotSummary = {
    claimed: 0,
    finished: 0,
    failed: 0,
    blocked: 0,
    waiting: 0,
    scheduled: 0,
    missed: 0,
    next_due: null,
    stopped: 'empty',
  };
  const inFlight = new Set<Promise<void>>();
  const abortAll = new AbortController();
  const emit = (p: Progress) => opts.onProgress?.(p);
  const db = deps.engine.store.db;
  let claimedAny = false;
  let diskFull: VtError | null = null;

  for (;;) {
    if (diskFull) break;
    if (opts.signal?.aborted) {
      summary.stopped = 'signal';
      break;
    }
    if (await getControl(db, 'abort')) {
      abortAll.abort();
      summary.stopped = 'aborted';
      break;
    }
    for (const source of opts.sources ?? []) {
      // A failed listing must not hold back delivery of what is already in the outbox.
      for (const step of [() => source.sync(), () => source.deliver()]) {
        try {
          await step();
        } catch (err) {
          emit({
            type: 'source-error',
            source: source.name,
            reason: err instanceof Error ? err.message : String(err),
          });
        }
      }
    }
    const paused = !!(await getControl(db, 'paused'));
    // Scheduled visits that fell due are queued first, so they are claimable in this same turn.
    let nextDue: string | null = null;
    if (!paused) {
      const due = await queueDueVisits(deps.engine, { project: opts.project });
      nextDue = due.nextDue;
      for (const o of due.outcomes) {
        if (o.type === 'scheduled') {
          summary.scheduled++;
          if (o.missed) summary.missed++;
        }
        emit(o);
      }
    }
    while (!paused && inFlight.size < opts.concurrency && !(opts.once && claimedAny && inFlight.size === 0)) {
      const claim = await deps.tickets.claimNext(worker, {
        project: opts.project,
        labels: opts.labels,
        leaseMs: opts.leaseMs,
      });
      if (!claim) break;
      claimedAny = true;
      summary.claimed++;
      const job: Promise<void> = runTicket(deps, opts, worker, claim, summary, abortAll.signal, emit)
        .catch(async (err) => {
          if (err instanceof VtError && err.code === 'CONFLICT') {
            emit({ type: 'lost', project: claim.projectId, ticket: claim.ticket.id, reason: err.message });
            return;
          }
          // A full disk is no failed attempt: stop the autopilot (no retry storm, no blocked ticket);
          // run again once space is freed, and the ticket is taken over after its lease.
          const machine = classifyFailure(err);
          if (machine instanceof VtError && machine.code === 'DISK_FULL') {
            diskFull ??= machine;
            abortAll.abort();
            return;
          }
          // Anything else (a broken workspace, a git failure) is a failed attempt, never a dead loop.
          const reason = `${claim.ticket.phase}: ${err instanceof Error ? err.message : String(err)}`;
          try {
            const c = await deps.tickets.failAttempt(claim, reason, { actor: 'autopilot' }, opts.backoffMs);
            await reportFailure(opts, claim.projectId, claim.ticket.id, c.events, summary, emit);
          } catch (inner) {
            emit({
              type: 'lost',
              project: claim.projectId,
              ticket: claim.ticket.id,
              reason: `${reason}; ${String(inner)}`,
            });
          }
        })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
    }
    if (inFlight.size) {
      // The poll timer is cancelled once a ticket finishes, so `--once` exits without waiting it out.
      const tick = new AbortController();
      const signals = opts.signal ? [tick.signal, opts.signal] : [tick.signal];
      await Promise.race([...inFlight, sleep(opts.pollMs, AbortSignal.any(signals))]);
      tick.abort();
      continue;
    }
    if (opts.once) {
      summary.stopped = 'once';
      break;
    }
    const now = deps.engine.clock.now();
    const rows = await queueRows(db, opts.project);
    const claimable = selectTickets(rows, { now, labels: opts.labels, assignees: [worker] });
    if (claimable.length && !paused) continue;
    if (!rows.length && !paused && !opts.watch) {
      summary.stopped = 'empty';
      break;
    }
    const ticketWake = nextWake(rows, now);
    const wake =
      nextDue && (!ticketWake || Date.parse(nextDue) < ticketWake.getTime()) ? new Date(nextDue) : ticketWake;
    emit({ type: 'idle', waiting: rows.length, until: wake?.toISOString() ?? null });
    await sleep(
      Math.min(opts.pollMs, wake ? Math.max(wake.getTime() - now.getTime(), 10) : opts.pollMs),
      opts.signal,
    );
  }
  abortAll.abort();
  await Promise.allSettled(inFlight);
  if (diskFull) throw diskFull;
  for (const source of opts.sources ?? []) await source.deliver().catch(() => 0);
  summary.next_due = await nextDueAt(db, opts.project);
  summary.waiting = Number(
    (
      await db
        .selectFrom('tickets')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', 'in', ['awaiting-approval', 'awaiting-human', 'blocked'])
        .executeTakeFirstOrThrow()
    ).n,
  );
  emit({ type: 'stopped', reason: summary.stopped });
  return summary;
}

async function runTicket(
  deps: AutopilotDeps,
  opts: AutopilotOptions,
  worker: string,
  claim: Claim,
  summary: AutopilotSummary,
  stopAll: AbortSignal,
  emit: (p: Progress) => void,
): Promise<void> {
  const { engine, tickets, workspaces } = deps;
  const { projectId, ticket } = claim;
  const state = await engine.state(projectId);
  const train = await engine.train(state.trainHash);
  const phase = phaseOf(train, ticket.phase);
  const role = train.roles.find((r) => r.id === phase.owner)!;
  const spec: ExecutorSpec = resolveExecutor(phase, role, projectId);
  const actor = `agent:${role.id}`;
  const auto = { actor: 'autopilot' };
  emit({
    type: 'claimed',
    project: projectId,
    ticket: ticket.id,
    phase: phase.id,
    mode: claim.mode,
    attempt: ticket.attempts + 1,
  });

  const lost = new AbortController();
  const onStop = () => lost.abort();
  stopAll.addEventListener('abort', onStop, { once: true });
  const beat = setInterval(() => {
    tickets.heartbeat(claim, worker, opts.leaseMs).then(
      (held) => held || lost.abort(),
      () => {},
    );
  }, opts.heartbeatMs);
  try {
    if (claim.mode === 'run') {
      if (spec.kind === 'human') {
        // A person works in a worktree of their own for the ticket; `vt done` commits it.
        const ws = await workspaces.prepare(projectId, ticket, `${ticket.id}.human`, {
          start: startCommit(state, ticket),
        });
        const reason = `waiting for ${role.name}: this phase is worked by a person, in ${ws} (vt done ${ticket.id} when finished)`;
        await tickets.awaitHuman(claim, reason, auto);
        emit({ type: 'waiting', project: projectId, ticket: ticket.id, status: 'awaiting-human', reason });
        return;
      }
      // Every session gets its own worktree, from where the ticket started: a re-run never sees an
      // earlier run's output, and a stale session never writes where its successor works.
      const ws = await workspaces.prepare(projectId, ticket, sessionOf(claim), {
        clean: true,
        start: startCommit(state, ticket),
      });
      const result = await runSession(deps, opts, claim, spec, ws, actor, lost.signal, emit);
      if (lost.signal.aborted) throw new VtError('CONFLICT', `lost the lease on ${ticket.id}`);
      if (result.outcome === 'unavailable') {
        const reason = `${result.message}; a person takes the ticket (vt done ${ticket.id} when finished)`;
        await tickets.awaitHuman(claim, reason, auto);
        emit({ type: 'waiting', project: projectId, ticket: ticket.id, status: 'awaiting-human', reason });
        return;
      }
      if (result.outcome !== 'succeeded') {
        const c = await tickets.failAttempt(claim, `${phase.id}: ${result.message}`, auto, opts.backoffMs);
        await reportFailure(opts, projectId, ticket.id, c.events, summary, emit);
        return;
      }
      await runSupport(deps, opts, claim, phase, train, ws, lost.signal, emit);
      if (lost.signal.aborted) throw new VtError('CONFLICT', `lost the lease on ${ticket.id}`);
    }
    const f = await tickets.finish(claim, auto, opts.backoffMs);
    const o = f.outcome;
    if (
      o.outcome === 'advanced' ||
      o.outcome === 'completed' ||
      o.outcome === 'reworked' ||
      o.outcome === 'closed'
    ) {
      summary.finished++;
      await workspaces.integrate(projectId, f.state.tickets[ticket.id]!);
      await workspaces.remove(workspaceDir(deps.root, sessionOf(claim)));
      emit({
        type: 'finished',
        project: projectId,
        ticket: ticket.id,
        phase: phase.id,
        outcome: o.outcome,
        ...('to' in o ? { to: o.to } : {}),
        results: f.results,
      });
      // Moving on may have queued the next ticket blocked (a loop that keeps coming back): say so.
      await reportBlocked(opts, projectId, f.events, summary, emit);
    } else {
      const status = f.state.tickets[ticket.id]!.status;
      if (status === 'awaiting-approval')
        emit({
          type: 'waiting',
          project: projectId,
          ticket: ticket.id,
          status,
          reason: 'waiting for approval',
        });
      else await reportFailure(opts, projectId, ticket.id, f.events, summary, emit);
    }
  } finally {
    clearInterval(beat);
    stopAll.removeEventListener('abort', onStop);
  }
}

async function reportFailure(
  opts: AutopilotOptions,
  project: string,
  ticket: string,
  events: RecordedEvent[],
  summary: AutopilotSummary,
  emit: (p: Progress) => void,
) {
  const status = events.find((e) => e.type === 'ticket.status' && e.payload.ticket === ticket);
  const blocked = status?.type === 'ticket.status' && status.payload.status === 'blocked';
  summary.failed++;
  if (!blocked)
    emit({
      type: 'failed',
      project,
      ticket,
      reason: status?.type === 'ticket.status' ? (status.payload.reason ?? '') : '',
      attempts: status?.type === 'ticket.status' ? status.payload.attempts : 0,
      blocked: false,
    });
  await reportBlocked(opts, project, events, summary, emit);
}

/** Every ticket these events blocked counts, shows and raises its alert: a failure is never quiet. */
async function reportBlocked(
  opts: AutopilotOptions,
  project: string,
  events: RecordedEvent[],
  summary: AutopilotSummary,
  emit: (p: Progress) => void,
) {
  for (const e of events) {
    if (e.type !== 'ticket.status' || e.payload.status !== 'blocked') continue;
    summary.blocked++;
    emit({
      type: 'failed',
      project,
      ticket: e.payload.ticket,
      reason: e.payload.reason ?? '',
      attempts: e.payload.attempts,
      blocked: true,
    });
  }
  for (const e of events)
    if (e.type === 'alert.raised')
      await opts.onAlert?.({ project, ticket: e.payload.ticket, reason: e.payload.reason });
}
