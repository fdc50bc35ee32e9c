import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { executorLabel, runAgentSession } from '../agents/dispatch.ts';
import { runCommandExecutor } from '../agents/executors/command.ts';
import { applyReport, readReport } from '../agents/report.ts';
import type { ExecutorResult } from '../agents/types.ts';
import { sha256 } from '../canonical.ts';
import { buildHandoff, DEFAULT_BUDGET_TOKENS } from '../context/handoff.ts';
import type { Claim } from '../engine/ticket-ops.ts';
import { VtError } from '../errors.ts';
import { processId } from '../io/ancestry.ts';
import { packageVersion } from '../package.ts';
import { redact } from '../redact.ts';
import { forgetSessionProcesses, registerSessionProcess } from '../store/session-processes.ts';
import type { ExecutorSpec } from '../train/schema.ts';
import { hostSession } from './session-host.ts';
import { sessionSandbox } from './session-sandbox.ts';
import type { AutopilotDeps, AutopilotOptions, Progress } from './worker.ts';

const VERSION = packageVersion();

/*
 * One session of a ticket: its handoff packet, its executor, and the report it leaves.
 */

/** Open a session, hand over the packet, run the command and apply what it reports. */
export async function runSession(
  deps: AutopilotDeps,
  opts: AutopilotOptions,
  claim: Claim,
  spec: Exclude<ExecutorSpec, { kind: 'human' }>,
  ws: string,
  actor: string,
  signal: AbortSignal,
  emit: (p: Progress) => void,
  /** A supporting role's session, after the owner's (src/autopilot/support.ts). */
  support?: string,
): Promise<ExecutorResult> {
  const { engine, tickets, root } = deps;
  const { projectId, ticket } = claim;
  const name = `${sessionOf(claim)}${support ? `-${support}` : ''}`;
  const log = join(root, '.vt', 'logs', `${name}.log`);
  const session = await tickets.startSession(
    claim,
    { role: actor.slice(6), executor: spec.kind, workspace: ws, log, actor },
    support,
  );
  emit({ type: 'session', project: projectId, ticket: ticket.id, session, executor: executorLabel(spec) });
  const handoff = await ensureHandoff(deps, claim, opts.handoffBudget ?? DEFAULT_BUDGET_TOKENS);
  // The session's own folder: the only part of .vt/ its sandbox may write.
  const sessionDir = join(root, '.vt', 'sessions', session);
  const reportFile = join(sessionDir, 'report.json');
  mkdirSync(sessionDir, { recursive: true });
  rmSync(reportFile, { force: true });
  const s = await engine.state(projectId);
  const issue = s.issues[ticket.issue];
  // The executor reaches its session through a socket the worker serves; it gets no store.
  const host =
    spec.kind === 'llm'
      ? null
      : await hostSession({
          engine,
          tickets,
          projectId,
          session,
          actor,
          handoffFile: handoff,
          version: VERSION,
        });
  const env: Record<string, string> = {
    VT_PROJECT: projectId,
    VT_PHASE: ticket.phase,
    VT_TICKET: ticket.id,
    VT_SESSION: session,
    VT_WORKSPACE: ws,
    VT_HANDOFF: handoff,
    VT_REPORT: reportFile,
    VT_ACTOR: actor,
    // A command reports through `vt` calls with the token; an agent CLI gets the token only in its
    // MCP server's configuration, so the agent's own shell commands cannot act for the session.
    ...(host ? { VT_SESSION_SOCKET: host.socket } : {}),
    ...(host && spec.kind === 'command' ? { VT_SESSION_TOKEN: host.token } : {}),
    PATH: `${deps.binDir}:${process.env.PATH ?? ''}`,
  };
  // Any `vt` started below the executor is known to act for this session, even with its environment stripped.
  const registered: Promise<void>[] = [];
  const onStart = (pgid: number) => {
    const id = processId(pgid);
    if (id)
      registered.push(
        registerSessionProcess(engine.store.db, {
          session,
          project_id: projectId,
          actor,
          pid: id.pid,
          start: id.start,
          host: hostname(),
          created_at: engine.clock.now().toISOString(),
        }).catch(() => {}),
      );
  };
  const sandbox =
    spec.kind === 'llm'
      ? undefined
      : sessionSandbox({
          spec,
          trainMode: (await engine.train(s.trainHash)).sandbox,
          session,
          root,
          workspace: ws,
          sessionDir,
          socketDir: host?.dir ?? null,
          handoff,
          binDir: deps.binDir,
          dbTarget: deps.dbTarget,
        });
  try {
    return await runAndRecord();
  } finally {
    await Promise.all(registered);
    await forgetSessionProcesses(engine.store.db, session).catch(() => {});
    await host?.close();
  }

  async function runAndRecord(): Promise<ExecutorResult> {
    const input = JSON.stringify({
      project: projectId,
      phase: ticket.phase,
      ticket: ticket.id,
      session,
      issue: issue ? { id: issue.id, title: issue.title, labels: issue.labels } : null,
      workspace: ws,
      handoff,
      report: reportFile,
    });
    let result =
      spec.kind === 'command'
        ? await runCommandExecutor({
            argv: expandArgv(spec.run, { node: process.execPath, root, workspace: ws }),
            cwd: ws,
            env,
            input,
            timeoutMs: spec.timeout_s * 1000,
            logFile: log,
            signal,
            onStart,
            sandbox,
          })
        : await runAgentSession(spec, {
            engine,
            tickets,
            root,
            dbTarget: deps.dbTarget,
            projectId,
            ticket: ticket.id,
            session,
            workspace: ws,
            handoff,
            logFile: log,
            reportFile,
            env,
            signal,
            host,
            onStart,
            sandbox,
          });
    if (result.outcome === 'succeeded' && !signal.aborted) {
      try {
        const report = readReport(reportFile);
        if (report) await applyReport(engine, tickets, projectId, report, { actor, session });
      } catch (err) {
        if (!(err instanceof VtError) || err.code === 'CONFLICT') throw err;
        result = { outcome: 'failed', exitCode: 0, message: `its report was refused: ${err.message}` };
      }
    }
    if (result.outcome === 'succeeded' && !signal.aborted) {
      // The session ends by committing its worktree; the engine records the commit only while the
      // session still holds its ticket, and only then does the ticket's branch move to it.
      const s = await engine.state(projectId);
      const mine = Object.values(s.evidence[ticket.phase]?.artifacts ?? {})
        .filter((a) => a.session === session)
        .map((a) => a.path);
      const c = await deps.workspaces.commit(ws, mine, `${ticket.phase}: ${ticket.id} (session ${session})`);
      await engine.recordCommit(
        projectId,
        { session, ticket: ticket.id, commit: c.commit, tree: c.tree },
        { actor, session },
      );
      failpoint('after-workspace-commit');
      await deps.workspaces.publish(ticket, c.commit);
    }
    if (!signal.aborted) {
      await tickets.endSession(
        projectId,
        session,
        {
          outcome: result.outcome,
          exitCode: result.exitCode,
          summary: result.message,
          tokensIn: result.tokensIn,
          tokensOut: result.tokensOut,
          cost: result.cost,
        },
        { actor },
      );
    }
    return result;
  }
}

/** The session a claim runs: one per ticket and lease generation. */
export const sessionOf = (claim: Claim) => `${claim.ticket.id}.s${claim.gen}`;

/** Crash tests name a point (VT_FAILPOINT) where the process kills itself, as a power cut would. */
export function failpoint(name: string): void {
  if (process.env.VT_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}

/** Placeholders a train's command may use: {node} (this Node), {root} (the folder of vt.yaml), {workspace}. */
export function expandArgv(argv: readonly string[], vars: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{(node|root|workspace)\}/g, (_, k: string) => vars[k]!));
}

/**
 * Build the current visit's handoff packet once, store it as a file and an event; returns its path.
 * The event is recorded under the claim's lease, so a worker that lost it records nothing.
 */
export async function ensureHandoff(deps: AutopilotDeps, claim: Claim, budget: number): Promise<string> {
  const { engine, tickets, root } = deps;
  const { projectId } = claim;
  const s = await engine.state(projectId);
  const rel = join('.vt', 'handoffs', projectId, `${String(s.visit).padStart(3, '0')}-${s.phase}.md`);
  if (s.handoff) return join(root, s.handoff.path);
  const train = await engine.train(s.trainHash);
  const built = buildHandoff(s, train, budget);
  // Redacted before it is hashed and written: the packet quotes context, previews and the train.
  const h = { ...built, text: redact(built.text) };
  mkdirSync(join(root, '.vt', 'handoffs', projectId), { recursive: true });
  writeFileSync(join(root, rel), h.text);
  await tickets.recordHandoff(
    projectId,
    {
      phase: s.phase,
      visit: s.visit,
      path: rel,
      sha256: sha256(h.text),
      tokens: h.tokens,
      truncated: h.truncated,
    },
    { actor: 'conductor', idempotencyKey: `handoff:${s.phase}:${s.visit}` },
    claim,
  );
  return join(root, rel);
}
