import { VtError } from '../errors.ts';
import { evaluateMetricExpr, parseMetricExpr } from '../gates/expr.ts';
import type { GateResult } from '../gates/types.ts';
import type { Phase, Train } from '../train/schema.ts';
import type { TransitionKind } from '../types.ts';
import { type DecisionConfirmation, requireConfirmationFor } from './confirmation.ts';
import { evidenceDigest } from './digest.ts';
import { event, type NewEvent } from './events.ts';
import type { ProjectState } from './state.ts';

/*
 * The engine's pure core: given a project's state and a command, return the events to append.
 * No I/O here; gate results and file hashes arrive as inputs gathered by the shell.
 */

export function phaseOf(train: Train, id: string): Phase {
  const p = train.phases.find((x) => x.id === id);
  if (!p) throw new VtError('NOT_FOUND', `phase "${id}" is not in train ${train.name}`);
  return p;
}

function requireActive(s: ProjectState, doing: string): void {
  if (s.status === 'active') return;
  const fix =
    s.status === 'on-hold'
      ? `vt resume ${s.id}`
      : s.status === 'cancelled'
        ? `vt reopen ${s.id} --reason …`
        : undefined;
  throw new VtError('INVALID_STATE', `cannot ${doing}: project ${s.id} is ${s.status}`, { hint: fix });
}

/** Roles an actor holds by the train's `people` map. */
export function rolesOf(train: Train, actor: string): string[] {
  return train.people[actor] ?? [];
}

export function decideTick(s: ProjectState, train: Train, item: string, note: string | null): NewEvent[] {
  requireActive(s, 'tick');
  const phase = phaseOf(train, s.phase);
  if (!phase.checklist.some((c) => c.id === item)) {
    throw new VtError('BAD_INPUT', `"${item}" is not on the checklist of ${phase.id}`, {
      hint: `Items: ${phase.checklist.map((c) => c.id).join(', ') || '(none)'}`,
    });
  }
  if (s.checklist[phase.id]?.[item]?.ticked) return [];
  return [event('checklist.ticked', { phase: phase.id, item, note })];
}

export function decideReopenItem(s: ProjectState, train: Train, item: string, reason: string): NewEvent[] {
  requireActive(s, 'reopen an item');
  const phase = phaseOf(train, s.phase);
  if (!reason.trim()) throw new VtError('BAD_INPUT', 'reopening a checklist item needs a reason (--reason)');
  if (!s.checklist[phase.id]?.[item]?.ticked)
    throw new VtError('INVALID_STATE', `"${item}" is not ticked in ${phase.id}`);
  return [event('checklist.reopened', { phase: phase.id, item, reason })];
}

export interface ArtifactInput {
  artifact: string;
  path: string;
  workspace: string;
  sha256: string;
  size: number;
  preview: string | null;
}

export function decideArtifact(s: ProjectState, train: Train, a: ArtifactInput): NewEvent[] {
  requireActive(s, 'record an artifact');
  const phase = phaseOf(train, s.phase);
  if (!phase.artifacts.some((x) => x.id === a.artifact)) {
    throw new VtError('BAD_INPUT', `"${a.artifact}" is not an artifact of ${phase.id}`, {
      hint: `Artifacts: ${phase.artifacts.map((x) => x.id).join(', ') || '(none)'}`,
    });
  }
  const prev = s.artifacts[phase.id]?.[a.artifact];
  if (prev && prev.sha256 === a.sha256 && prev.path === a.path && prev.workspace === a.workspace) return [];
  return [event('artifact.recorded', { phase: phase.id, ...a })];
}

export function decideMetric(s: ProjectState, train: Train, name: string, value: number): NewEvent[] {
  requireActive(s, 'record a metric');
  if (!train.metrics.some((m) => m.id === name)) {
    throw new VtError('BAD_INPUT', `metric "${name}" is not declared in train ${train.name}`, {
      hint: `Declared: ${train.metrics.map((m) => m.id).join(', ') || '(none)'}`,
    });
  }
  if (!Number.isFinite(value)) throw new VtError('BAD_INPUT', `metric ${name} must be a finite number`);
  return [event('metric.recorded', { phase: s.phase, visit: s.visit, name, value })];
}

/** Where passing the current phase leads: the first matching route, else `next`, else the end. */
export function chooseTarget(
  s: ProjectState,
  train: Train,
): { to: string | null; kind: TransitionKind; reason: string | null } {
  const phase = phaseOf(train, s.phase);
  const visit = new Map(Object.entries(s.visitMetrics));
  for (const r of phase.routes) {
    if (evaluateMetricExpr(parseMetricExpr(r.when), visit).status === 'pass')
      return { to: r.to, kind: 'route', reason: r.reason ?? r.when };
  }
  return { to: phase.next ?? null, kind: 'advance', reason: null };
}

export function decideCheck(
  s: ProjectState,
  side: 'entry' | 'exit',
  phase: string,
  results: GateResult[],
): NewEvent {
  const passed = results.every((r) => r.status === 'pass' || r.status === 'waived');
  return event('gate.evaluated', { phase, visit: s.visit, side, passed, results });
}

/** True when every failing gate is an approval still waiting for approvers (none rejected). */
export function onlyApprovalsPending(results: readonly GateResult[]): boolean {
  const failing = results.filter((r) => r.status !== 'pass' && r.status !== 'waived');
  return (
    failing.length > 0 &&
    failing.every(
      (r) =>
        r.kind === 'approval' &&
        r.status === 'fail' &&
        !(r.evidence.rejected_by as string[] | undefined)?.length,
    )
  );
}

export type AdvanceOutcome =
  | { outcome: 'advanced'; from: string; to: string; kind: TransitionKind; reason: string | null }
  | { outcome: 'completed'; from: string }
  | { outcome: 'reworked'; from: string; to: string }
  | { outcome: 'stayed'; from: string; blockedBy: 'exit' | 'entry' };

/** Advance on the gate results gathered for this state: pass moves on, fail stays or reworks. */
export function decideAdvance(
  s: ProjectState,
  train: Train,
  exit: GateResult[],
  entry: { phase: string; results: GateResult[] } | null,
): { events: NewEvent[]; outcome: AdvanceOutcome } {
  requireActive(s, 'advance');
  const phase = phaseOf(train, s.phase);
  const events: NewEvent[] = [decideCheck(s, 'exit', phase.id, exit)];
  const n = s.transitions + 1;
  const exitPassed = exit.every((r) => r.status === 'pass' || r.status === 'waived');
  if (!exitPassed) {
    // Waiting for a sign-off is not a failure: the project stays until the approver acts.
    if (phase.on_fail && !onlyApprovalsPending(exit)) {
      const reason = exit
        .filter((r) => r.status === 'fail' || r.status === 'error')
        .map((r) => r.gate)
        .join(', ');
      events.push(
        event('phase.advanced', {
          n,
          from: phase.id,
          to: phase.on_fail,
          kind: 'rework',
          reason: `failed: ${reason}`,
        }),
      );
      return { events, outcome: { outcome: 'reworked', from: phase.id, to: phase.on_fail } };
    }
    return { events, outcome: { outcome: 'stayed', from: phase.id, blockedBy: 'exit' } };
  }
  const target = chooseTarget(s, train);
  if (target.to === null) {
    events.push(event('project.completed', { n, from: phase.id, reason: null }));
    return { events, outcome: { outcome: 'completed', from: phase.id } };
  }
  if (entry?.results.length) {
    const ev = event('gate.evaluated', {
      phase: entry.phase,
      visit: s.visit,
      side: 'entry',
      passed: entry.results.every((r) => r.status === 'pass' || r.status === 'waived'),
      results: entry.results,
    });
    events.push(ev);
    if (!(ev.payload as { passed: boolean }).passed)
      return { events, outcome: { outcome: 'stayed', from: phase.id, blockedBy: 'entry' } };
  }
  events.push(
    event('phase.advanced', { n, from: phase.id, to: target.to, kind: target.kind, reason: target.reason }),
  );
  return {
    events,
    outcome: { outcome: 'advanced', from: phase.id, to: target.to, kind: target.kind, reason: target.reason },
  };
}

/** Which approval role this actor approves in, for the current phase's approval gates. */
export function decideApproval(
  s: ProjectState,
  train: Train,
  actor: string,
  decision: 'approve' | 'reject',
  opts: { role?: string | undefined; reason: string | null; confirmation?: DecisionConfirmation | undefined },
): NewEvent[] {
  requireActive(s, decision);
  const phase = phaseOf(train, s.phase);
  const gateRoles = approvalRoles(phase.gates.exit.concat(phase.gates.entry));
  if (!gateRoles.length) throw new VtError('INVALID_STATE', `phase ${phase.id} has no approval gate`);
  const held = rolesOf(train, actor).filter((r) => gateRoles.includes(r));
  const role = opts.role ?? held[0];
  if (!role || !held.includes(role)) {
    throw new VtError(
      'NOT_PERMITTED',
      `${actor} cannot ${decision} ${phase.id}: it needs the role ${gateRoles.join(' or ')}, and ${actor} holds ${rolesOf(train, actor).join(', ') || 'no role'}`,
      { hint: `Add ${actor} under people: in the train, or act as someone who holds the role (--as NAME)` },
    );
  }
  if ((s.contributors[phase.id] ?? []).includes(actor)) {
    throw new VtError('NOT_PERMITTED', `${actor} did work in ${phase.id} and cannot ${decision} it`, {
      hint: 'Ask another member of the role to review it',
    });
  }
  if (decision === 'reject' && !opts.reason?.trim())
    throw new VtError('BAD_INPUT', 'a rejection needs a reason (--reason)');
  const digest = evidenceDigest(s, phase.id);
  const c = opts.confirmation;
  if (c)
    requireConfirmationFor(c, {
      project: s.id,
      phase: phase.id,
      visit: s.visit,
      decision,
      digest,
      actor,
      reason: opts.reason,
    });
  return [
    event('approval.recorded', {
      phase: phase.id,
      visit: s.visit,
      role,
      decision,
      reason: opts.reason,
      digest,
      ...(c ? { confirmation: c } : {}),
    }),
  ];
}

function approvalRoles(gates: Phase['gates']['exit']): string[] {
  const out: string[] = [];
  for (const g of gates) {
    if (g.kind === 'approval') out.push(g.role);
    if (g.kind === 'all' || g.kind === 'any') out.push(...approvalRoles(g.gates));
  }
  return [...new Set(out)];
}

export function decideWaive(
  s: ProjectState,
  train: Train,
  actor: string,
  gate: string,
  reason: string,
  expiresAt: Date,
  now: Date,
  confirmation?: DecisionConfirmation,
): NewEvent[] {
  requireActive(s, 'waive a gate');
  const phase = phaseOf(train, s.phase);
  const all = [...phase.gates.entry, ...phase.gates.exit];
  if (!all.some((g) => g.id === gate)) {
    throw new VtError('BAD_INPUT', `phase ${phase.id} has no gate "${gate}"`, {
      hint: `Gates: ${all.map((g) => g.id).join(', ')}`,
    });
  }
  const waivers = train.roles.filter((r) => r.can_waive).map((r) => r.id);
  if (!rolesOf(train, actor).some((r) => waivers.includes(r))) {
    throw new VtError(
      'NOT_PERMITTED',
      `${actor} may not waive gates: that needs the role ${waivers.join(' or ') || '(none can)'}`,
    );
  }
  if (!reason.trim()) throw new VtError('BAD_INPUT', 'a waiver needs a reason (--reason)');
  if (!(expiresAt.getTime() > now.getTime()))
    throw new VtError('BAD_INPUT', 'a waiver must expire in the future (--expires)');
  const expires_at = expiresAt.toISOString();
  if (confirmation)
    requireConfirmationFor(confirmation, {
      project: s.id,
      phase: phase.id,
      visit: s.visit,
      decision: 'waive',
      digest: evidenceDigest(s, phase.id),
      actor,
      reason,
      gate,
      expiresAt: expires_at,
    });
  return [
    event('gate.waived', {
      phase: phase.id,
      gate,
      reason,
      expires_at,
      ...(confirmation ? { confirmation } : {}),
    }),
  ];
}

export function decideLifecycle(
  s: ProjectState,
  train: Train,
  action: 'hold' | 'resume' | 'cancel' | 'reopen',
  reason: string | null,
): NewEvent[] {
  switch (action) {
    case 'hold':
      requireActive(s, 'hold');
      return [event('project.held', { reason })];
    case 'resume':
      if (s.status !== 'on-hold')
        throw new VtError('INVALID_STATE', `project ${s.id} is ${s.status}, not on hold`);
      return [event('project.resumed', { reason })];
    case 'cancel':
      if (s.status === 'cancelled' || s.status === 'completed')
        throw new VtError('INVALID_STATE', `project ${s.id} is already ${s.status}`);
      if (!reason?.trim()) throw new VtError('BAD_INPUT', 'cancelling needs a reason (--reason)');
      return [event('project.cancelled', { reason })];
    case 'reopen':
      if (s.status !== 'cancelled' && s.status !== 'completed')
        throw new VtError(
          'INVALID_STATE',
          `project ${s.id} is ${s.status}; only a cancelled or completed project reopens`,
        );
      if (!reason?.trim()) throw new VtError('BAD_INPUT', 'reopening needs a reason (--reason)');
      phaseOf(train, s.phase);
      return [event('project.reopened', { reason, phase: s.phase })];
  }
}
