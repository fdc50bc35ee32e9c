import { VtError } from '../errors.ts';
import { evaluateMetricExpr, metricNames, parseMetricExpr } from '../expr/metric-expr.ts';
import { evidenceDigest } from '../gates/digest.ts';
import type { GateResult } from '../gates/types.ts';
import type { Phase, Train } from '../train/schema.ts';
import type { TransitionKind } from '../types.ts';
import { event, type NewEvent } from './events.ts';
import { enteringEvents, isWorking } from './operations.ts';
import { currentEvidence, type ProjectState } from './state.ts';

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
  if (isWorking(s)) return;
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

export function decideTick(
  s: ProjectState,
  train: Train,
  item: string,
  note: string | null,
  session: string | null,
): NewEvent[] {
  requireActive(s, 'tick');
  const phase = phaseOf(train, s.phase);
  if (!phase.checklist.some((c) => c.id === item)) {
    throw new VtError('BAD_INPUT', `"${item}" is not on the checklist of ${phase.id}`, {
      hint: `Items: ${phase.checklist.map((c) => c.id).join(', ') || '(none)'}`,
    });
  }
  if (currentEvidence(s).checklist[item]?.ticked) return [];
  return [event('checklist.ticked', { phase: phase.id, item, note, visit: s.visit, session })];
}

export function decideReopenItem(s: ProjectState, train: Train, item: string, reason: string): NewEvent[] {
  requireActive(s, 'reopen an item');
  const phase = phaseOf(train, s.phase);
  if (!reason.trim()) throw new VtError('BAD_INPUT', 'reopening a checklist item needs a reason (--reason)');
  if (!currentEvidence(s).checklist[item]?.ticked)
    throw new VtError('INVALID_STATE', `"${item}" is not ticked in this visit of ${phase.id}`);
  return [event('checklist.reopened', { phase: phase.id, item, reason, visit: s.visit })];
}

export interface ArtifactInput {
  artifact: string;
  path: string;
  workspace: string;
  sha256: string;
  size: number;
  preview: string | null;
  session: string | null;
  /** The commit it was hashed in (a person's snapshot); null for a session's file, sealed by its commit. */
  commit: string | null;
}

export function decideArtifact(s: ProjectState, train: Train, a: ArtifactInput): NewEvent[] {
  requireActive(s, 'record an artifact');
  const phase = phaseOf(train, s.phase);
  if (!phase.artifacts.some((x) => x.id === a.artifact)) {
    throw new VtError('BAD_INPUT', `"${a.artifact}" is not an artifact of ${phase.id}`, {
      hint: `Artifacts: ${phase.artifacts.map((x) => x.id).join(', ') || '(none)'}`,
    });
  }
  const prev = currentEvidence(s).artifacts[a.artifact];
  if (
    prev &&
    prev.sha256 === a.sha256 &&
    prev.path === a.path &&
    prev.session === a.session &&
    prev.commit === a.commit
  )
    return [];
  return [event('artifact.recorded', { phase: phase.id, ...a, visit: s.visit })];
}

export function decideMetric(
  s: ProjectState,
  train: Train,
  name: string,
  value: number,
  session: string | null,
): NewEvent[] {
  requireActive(s, 'record a metric');
  if (!train.metrics.some((m) => m.id === name)) {
    throw new VtError('BAD_INPUT', `metric "${name}" is not declared in train ${train.name}`, {
      hint: `Declared: ${train.metrics.map((m) => m.id).join(', ') || '(none)'}`,
    });
  }
  if (!Number.isFinite(value)) throw new VtError('BAD_INPUT', `metric ${name} must be a finite number`);
  return [event('metric.recorded', { phase: s.phase, visit: s.visit, name, value, session })];
}

/** Record the commit a workspace's work ended in: what this visit's artifact and command gates judge. */
export function decideCommit(
  s: ProjectState,
  c: { session: string | null; ticket: string | null; commit: string; tree: string },
): NewEvent[] {
  requireActive(s, 'record a commit');
  // The same content committed again by the same hand is no news (a person's repeated `vt advance`).
  const last = currentEvidence(s).commit;
  if (last && last.session === c.session && (last.commit === c.commit || last.tree === c.tree)) return [];
  return [event('workspace.committed', { phase: s.phase, visit: s.visit, ...c })];
}

/** What of a phase's last visit the train carries into a new one (`carry: true`). */
function carriedByTrain(s: ProjectState, train: Train, to: string): NewEvent[] {
  const phase = phaseOf(train, to);
  const last = s.evidence[to];
  if (!last) return [];
  const items = phase.checklist.filter((c) => c.carry && last.checklist[c.id]?.ticked).map((c) => c.id);
  const artifacts = phase.artifacts.filter((a) => a.carry && last.artifacts[a.id]).map((a) => a.id);
  if (!items.length && !artifacts.length) return [];
  return [
    event('evidence.carried', {
      phase: to,
      visit: s.visit + 1,
      from_visit: last.visit,
      items,
      artifacts,
      metrics: [],
      by: 'train',
      reason: 'marked carry: true in the train',
    }),
  ];
}

/** A person carries evidence of the phase's previous visit into this one, with a reason. */
export function decideCarry(
  s: ProjectState,
  train: Train,
  what: { items: string[]; artifacts: string[]; metrics: string[]; reason: string },
): NewEvent[] {
  requireActive(s, 'carry evidence forward');
  const phase = phaseOf(train, s.phase);
  if (!what.reason.trim())
    throw new VtError('BAD_INPUT', 'carrying evidence forward needs a reason (--reason)');
  const from = s.previous[phase.id];
  if (!from)
    throw new VtError(
      'INVALID_STATE',
      `this is the first visit of ${phase.id}: there is nothing to carry forward`,
    );
  const missing = [
    ...what.items.filter((i) => !from.checklist[i]?.ticked).map((i) => `item ${i}`),
    ...what.artifacts.filter((a) => !from.artifacts[a]).map((a) => `artifact ${a}`),
    ...what.metrics.filter((m) => !from.metrics[m]).map((m) => `metric ${m}`),
  ];
  if (missing.length)
    throw new VtError('BAD_INPUT', `visit ${from.n} of ${phase.id} did not record ${missing.join(', ')}`);
  if (!what.items.length && !what.artifacts.length && !what.metrics.length)
    throw new VtError('BAD_INPUT', 'name what to carry forward (--item, --artifact, --metric)');
  return [
    event('evidence.carried', {
      phase: phase.id,
      visit: s.visit,
      from_visit: from.visit,
      items: what.items,
      artifacts: what.artifacts,
      metrics: what.metrics,
      by: 'person',
      reason: what.reason.trim(),
    }),
  ];
}

/** The metrics recorded in this visit. */
function visitMetricValues(s: ProjectState): Map<string, number> {
  return new Map(Object.entries(currentEvidence(s).metrics).map(([k, v]) => [k, v.value]));
}

/** Values of metric references, scoped like the metric gate's (`name`, `name@latest`, `name@phase`). */
function scopedValues(
  refs: readonly string[],
  s: ProjectState,
  visit: Map<string, number>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const ref of refs) {
    const [name = ref, scope] = ref.split('@');
    const v =
      scope === undefined
        ? visit.get(name)
        : scope === 'latest'
          ? s.metrics[name]?.value
          : s.evidence[scope]?.metrics[name]?.value;
    if (v !== undefined) out.set(ref, v);
  }
  return out;
}

/** Where passing the current phase leads: the first matching route, else `next`, else the end. */
export function chooseTarget(
  s: ProjectState,
  train: Train,
): { to: string | null; kind: TransitionKind; reason: string | null } {
  const phase = phaseOf(train, s.phase);
  const visit = visitMetricValues(s);
  for (const r of phase.routes) {
    const expr = parseMetricExpr(r.when);
    if (evaluateMetricExpr(expr, scopedValues(metricNames(expr), s, visit)).status === 'pass')
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
  now: Date,
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
        ...carriedByTrain(s, train, phase.on_fail),
        ...enteringEvents(s, train, phaseOf(train, phase.on_fail), s.visit + 1, now),
      );
      return { events, outcome: { outcome: 'reworked', from: phase.id, to: phase.on_fail } };
    }
    return { events, outcome: { outcome: 'stayed', from: phase.id, blockedBy: 'exit' } };
  }
  const target = chooseTarget(s, train);
  if (target.to === null) {
    // Only a train changed under it can bring an operating project to an end: a person decides then.
    if (s.status === 'operating')
      throw new VtError(
        'INVALID_STATE',
        `${phase.id} ends the train, but ${s.id} is operating: a project in operations ends only when a person retires it`,
        {
          hint: `vt retire ${s.id} --reason …, or move it to a train whose operations go on: vt project upgrade ${s.id}`,
        },
      );
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
    ...carriedByTrain(s, train, target.to),
    ...enteringEvents(s, train, phaseOf(train, target.to), s.visit + 1, now),
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
  opts: { role?: string | undefined; reason: string | null },
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
  const ev = currentEvidence(s);
  if (ev.contributors.includes(actor)) {
    throw new VtError(
      'NOT_PERMITTED',
      `${actor} did work in visit ${ev.n} of ${phase.id} and cannot ${decision} it`,
      { hint: 'Ask another member of the role to review it' },
    );
  }
  if (decision === 'reject' && !opts.reason?.trim())
    throw new VtError('BAD_INPUT', 'a rejection needs a reason (--reason)');
  const digest = evidenceDigest(ev);
  return [
    event('approval.recorded', {
      phase: phase.id,
      visit: s.visit,
      role,
      decision,
      reason: opts.reason,
      digest,
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

/**
 * Waive a failing gate for the rest of this visit, until `expiresAt`. Only members of a waiving role
 * who did no work in this visit may; an approval gate's waiver also needs a second person, of the
 * gate's role, to confirm it (the same call by that person).
 */
export function decideWaive(
  s: ProjectState,
  train: Train,
  actor: string,
  gate: string,
  reason: string,
  expiresAt: Date,
  now: Date,
): NewEvent[] {
  requireActive(s, 'waive a gate');
  const phase = phaseOf(train, s.phase);
  const spec = findGate([...phase.gates.entry, ...phase.gates.exit], gate);
  if (!spec) {
    throw new VtError('BAD_INPUT', `phase ${phase.id} has no gate "${gate}"`, {
      hint: `Gates: ${[...phase.gates.entry, ...phase.gates.exit].map((g) => g.id).join(', ')}`,
    });
  }
  const ev = currentEvidence(s);
  if (ev.contributors.includes(actor))
    throw new VtError(
      'NOT_PERMITTED',
      `${actor} did work in visit ${ev.n} of ${phase.id} and cannot waive its gates`,
      { hint: 'Ask someone who did not work on it' },
    );
  if (!reason.trim()) throw new VtError('BAD_INPUT', 'a waiver needs a reason (--reason)');
  if (!(expiresAt.getTime() > now.getTime()))
    throw new VtError('BAD_INPUT', 'a waiver must expire in the future (--expires)');
  const first = s.waivers[gate];
  const pending =
    spec.kind === 'approval' && first && !first.confirmedBy && Date.parse(first.expiresAt) > now.getTime();
  if (pending) {
    // The second person confirms: they must hold the approval's role and be someone else.
    if (first.actor === actor)
      throw new VtError('NOT_PERMITTED', `${actor} waived ${gate} already; a second person must confirm it`);
    if (!rolesOf(train, actor).includes(spec.role))
      throw new VtError(
        'NOT_PERMITTED',
        `confirming the waiver of ${gate} needs the role ${spec.role}, and ${actor} holds ${rolesOf(train, actor).join(', ') || 'no role'}`,
      );
    return [
      event('gate.waived', {
        phase: phase.id,
        gate,
        reason,
        expires_at: first.expiresAt,
        visit: s.visit,
        confirms: first.seq,
      }),
    ];
  }
  const waivers = train.roles.filter((r) => r.can_waive).map((r) => r.id);
  if (!rolesOf(train, actor).some((r) => waivers.includes(r))) {
    throw new VtError(
      'NOT_PERMITTED',
      `${actor} may not waive gates: that needs the role ${waivers.join(' or ') || '(none can)'}`,
    );
  }
  return [
    event('gate.waived', {
      phase: phase.id,
      gate,
      reason,
      expires_at: expiresAt.toISOString(),
      visit: s.visit,
      confirms: null,
    }),
  ];
}

function findGate(gates: Phase['gates']['exit'], id: string): Phase['gates']['exit'][number] | undefined {
  for (const g of gates) {
    if (g.id === id) return g;
    if (g.kind === 'all' || g.kind === 'any') {
      const inner = findGate(g.gates, id);
      if (inner) return inner;
    }
  }
  return undefined;
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
      if (s.status === 'cancelled' || s.status === 'completed' || s.status === 'retired')
        throw new VtError('INVALID_STATE', `project ${s.id} is already ${s.status}`);
      if (!reason?.trim()) throw new VtError('BAD_INPUT', 'cancelling needs a reason (--reason)');
      return [event('project.cancelled', { reason })];
    case 'reopen':
      if (s.status === 'retired')
        throw new VtError(
          'INVALID_STATE',
          `project ${s.id} is retired: retiring ended it for good, on the record`,
          { hint: 'To operate the model again, start a new project' },
        );
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

/**
 * Move a project to another version of its train, with the differences on the record. Refused when
 * the current phase, or evidence recorded in this visit, would not exist in the new train.
 */
export function decideUpgrade(
  s: ProjectState,
  from: Train,
  to: Train,
  toHash: string,
  reason: string,
): NewEvent[] {
  if (!reason.trim()) throw new VtError('BAD_INPUT', 'an upgrade needs a reason (--reason)');
  if (toHash === s.trainHash) return [];
  const phase = to.phases.find((p) => p.id === s.phase);
  if (!phase)
    throw new VtError('INVALID_STATE', `the new train has no phase ${s.phase}, where ${s.id} stands`, {
      hint: 'Keep the phase in the new train, or upgrade once the project has left it',
    });
  const ev = currentEvidence(s);
  const lost = [
    ...Object.keys(ev.checklist)
      .filter((id) => !phase.checklist.some((c) => c.id === id))
      .map((id) => `checklist item ${id}`),
    ...Object.keys(ev.artifacts)
      .filter((id) => !phase.artifacts.some((a) => a.id === id))
      .map((id) => `artifact ${id}`),
    ...Object.keys(ev.metrics)
      .filter((id) => !to.metrics.some((m) => m.id === id))
      .map((id) => `metric ${id}`),
  ];
  if (lost.length)
    throw new VtError(
      'INVALID_STATE',
      `the new train drops evidence recorded in this visit of ${s.phase}: ${lost.join(', ')}`,
    );
  return [
    event('project.upgraded', {
      from_hash: s.trainHash,
      to_hash: toHash,
      train_name: to.name,
      diff: trainDiff(from, to),
      reason: reason.trim(),
    }),
  ];
}

/** A line per difference between two trains that matters to a running project. */
export function trainDiff(from: Train, to: Train): string[] {
  const out: string[] = [];
  const ids = (xs: { id: string }[]) => new Set(xs.map((x) => x.id));
  const compare = (what: string, a: Set<string>, b: Set<string>) => {
    for (const id of b) if (!a.has(id)) out.push(`+ ${what} ${id}`);
    for (const id of a) if (!b.has(id)) out.push(`- ${what} ${id}`);
  };
  compare('phase', ids(from.phases), ids(to.phases));
  compare('role', ids(from.roles), ids(to.roles));
  compare('metric', ids(from.metrics), ids(to.metrics));
  const people = new Set([...Object.keys(from.people), ...Object.keys(to.people)]);
  for (const p of [...people].sort()) {
    const a = JSON.stringify(from.people[p] ?? null);
    const b = JSON.stringify(to.people[p] ?? null);
    if (a !== b) out.push(`~ people ${p}: ${a} → ${b}`);
  }
  for (const p of to.phases) {
    const old = from.phases.find((x) => x.id === p.id);
    if (old && JSON.stringify(old) !== JSON.stringify(p)) out.push(`~ phase ${p.id}`);
  }
  return out;
}
