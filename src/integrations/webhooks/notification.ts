import type { OutboxRule } from '../../engine/engine.ts';
import type { ProjectState } from '../../engine/state.ts';
import { evaluateMetricExpr, type MetricExpr, metricNames, parseMetricExpr } from '../../expr/metric-expr.ts';
import type { GateResult } from '../../gates/types.ts';

/*
 * What vt tells people through webhooks, derived from events by an outbox rule: the rows are written in
 * the transaction of the event that causes them, and sent later by the deliverer (deliver.ts).
 */

export { NOTIFICATION_TYPES, type NotificationType } from '../../types.ts';

/** The outbox kind of a webhook delivery (one row per notification and endpoint). */
export const WEBHOOK_KIND = 'webhook';

export type Notification =
  | {
      type: 'approval-needed';
      project: string;
      phase: string;
      visit: number;
      train_hash: string;
      /** One per approval gate still short of approvals. */
      gates: { gate: string; role: string; needed: number; approvers: string[] }[];
      /** Who worked in the visit: they may not approve it. */
      contributors: string[];
    }
  | {
      type: 'ticket-blocked';
      project: string;
      phase: string;
      ticket: string;
      attempts: number;
      reason: string;
    }
  | {
      type: 'gate-failed';
      project: string;
      phase: string;
      visit: number;
      side: 'entry' | 'exit';
      failing: { gate: string; kind: string; status: string; message: string }[];
    }
  | {
      type: 'drift-detected';
      project: string;
      phase: string;
      /** `route` when the train routed the project into improvement, `threshold` for a declared expression. */
      source: 'route' | 'threshold';
      to: string | null;
      reason: string | null;
      metrics: Record<string, number>;
    }
  | {
      type: 'budget-nearly-spent';
      project: string;
      session: string;
      /** The session's own cost; the total is summed from the store when the message is sent. */
      cost: number;
      budget: number;
      warn_at: number;
    }
  | {
      type: 'schedule-missed';
      project: string;
      phase: string;
      schedule: string;
      due_at: string;
      checked_at: string;
    }
  | { type: 'test'; project: string; note: string };

/** An outbox row's payload: the endpoint first, so a deliverer can select its rows by prefix. */
export interface WebhookPayload {
  endpoint: string;
  notification: Notification;
}

export interface NotificationRules {
  endpoints: readonly { id: string; events: readonly string[] | null }[];
  /** Metric expressions that count as drift (`psi > 0.2`). */
  drift: readonly string[];
  budgetWarnAt: number;
}

/** The approval gates still short of approvals, when nothing else holds the phase back. */
function approvalsOnly(
  results: readonly GateResult[],
): { gate: string; role: string; needed: number; approvers: string[] }[] | null {
  const flat = (rs: readonly GateResult[]): GateResult[] =>
    rs.flatMap((r) => (r.children?.length ? flat(r.children) : [r]));
  const open = flat(results).filter((r) => r.status !== 'pass' && r.status !== 'waived');
  if (!open.length) return null;
  const pending = open.filter(
    (r) =>
      r.kind === 'approval' &&
      r.status === 'fail' &&
      !(Array.isArray(r.evidence.rejected_by) && r.evidence.rejected_by.length),
  );
  if (pending.length !== open.length) return null;
  return pending.map((r) => ({
    gate: r.gate,
    role: String(r.evidence.role ?? ''),
    needed: Number(r.evidence.needed ?? 1),
    approvers: Array.isArray(r.evidence.approvers) ? r.evidence.approvers.map(String) : [],
  }));
}

/** The notifications one event causes (before endpoints): at most a few, usually none. */
export function notificationsFor(
  s: ProjectState,
  e: Parameters<OutboxRule>[1],
  rules: { drift: readonly { text: string; expr: MetricExpr }[]; budgetWarnAt: number },
): Notification[] {
  const project = e.project_id;
  switch (e.type) {
    case 'gate.evaluated': {
      if (e.payload.passed) return [];
      const gates = approvalsOnly(e.payload.results);
      if (gates)
        return [
          {
            type: 'approval-needed',
            project,
            phase: e.payload.phase,
            visit: e.payload.visit,
            train_hash: s.trainHash,
            gates,
            contributors: [...(s.evidence[e.payload.phase]?.contributors ?? [])],
          },
        ];
      const failing = e.payload.results
        .filter((r) => r.status === 'fail' || r.status === 'error')
        .map((r) => ({ gate: r.gate, kind: r.kind, status: r.status, message: r.message }));
      return [
        {
          type: 'gate-failed',
          project,
          phase: e.payload.phase,
          visit: e.payload.visit,
          side: e.payload.side,
          failing,
        },
      ];
    }
    case 'ticket.status': {
      if (e.payload.status !== 'blocked') return [];
      const t = s.tickets[e.payload.ticket];
      return [
        {
          type: 'ticket-blocked',
          project,
          phase: t?.phase ?? s.phase,
          ticket: e.payload.ticket,
          attempts: e.payload.attempts,
          reason: e.payload.reason ?? 'no reason given',
        },
      ];
    }
    case 'phase.advanced':
      if (e.payload.kind !== 'route' || e.payload.to !== 'improvement') return [];
      return [
        {
          type: 'drift-detected',
          project,
          phase: e.payload.from,
          source: 'route',
          to: e.payload.to,
          reason: e.payload.reason,
          metrics: Object.fromEntries(
            Object.entries(s.evidence[e.payload.from]?.metrics ?? {}).map(([k, v]) => [k, v.value]),
          ),
        },
      ];
    case 'metric.recorded': {
      const values = new Map(Object.entries(s.metrics).map(([k, v]) => [k, v.value]));
      values.set(e.payload.name, e.payload.value);
      const hit = rules.drift.find(
        (d) =>
          metricNames(d.expr).includes(e.payload.name) &&
          evaluateMetricExpr(d.expr, values).status === 'pass',
      );
      if (!hit) return [];
      return [
        {
          type: 'drift-detected',
          project,
          phase: e.payload.phase,
          source: 'threshold',
          to: null,
          reason: hit.text,
          metrics: Object.fromEntries(metricNames(hit.expr).map((n) => [n, values.get(n)!])),
        },
      ];
    }
    case 'session.ended':
      if (s.budget === null || s.budget <= 0 || !(e.payload.cost && e.payload.cost > 0)) return [];
      return [
        {
          type: 'budget-nearly-spent',
          project,
          session: e.payload.session,
          cost: e.payload.cost,
          budget: s.budget,
          warn_at: rules.budgetWarnAt,
        },
      ];
    case 'schedule.missed':
      return [
        scheduleMissed({
          project,
          phase: e.payload.phase,
          schedule: e.payload.schedule,
          dueAt: new Date(e.payload.due_at),
          now: new Date(e.payload.checked_at),
        }),
      ];
    default:
      return [];
  }
}

/**
 * The outbox rule for webhooks: one row per notification and subscribed endpoint, id
 * `${project}:${seq, 10 digits}:webhook:${endpoint}` (unique per event and endpoint, so a replayed
 * command never queues a second). Never throws: a bad drift expression is refused when the rule is made.
 */
export function webhookOutboxRule(opts: NotificationRules): OutboxRule {
  const drift = opts.drift.map((text) => ({ text, expr: parseMetricExpr(text) }));
  const rules = { drift, budgetWarnAt: opts.budgetWarnAt };
  return (s, e) => {
    if (!s || !opts.endpoints.length) return [];
    const seq = String(e.seq).padStart(10, '0');
    return notificationsFor(s, e, rules).flatMap((n) =>
      opts.endpoints
        .filter((ep) => !ep.events || ep.events.includes(n.type))
        .map((ep) => {
          const payload: WebhookPayload = { endpoint: ep.id, notification: n };
          return {
            id: `${e.project_id}:${seq}:${WEBHOOK_KIND}:${ep.id}`,
            kind: WEBHOOK_KIND,
            payload: { ...payload },
          };
        }),
    );
  };
}

/**
 * A notification for a schedule that did not run in time: a `schedule.missed` event (a scheduled visit
 * queued more than its period after it fell due) queues it in that event's transaction.
 */
export function scheduleMissed(input: {
  project: string;
  phase: string;
  schedule: string;
  dueAt: Date;
  now: Date;
}): Notification {
  return {
    type: 'schedule-missed',
    project: input.project,
    phase: input.phase,
    schedule: input.schedule,
    due_at: input.dueAt.toISOString(),
    checked_at: input.now.toISOString(),
  };
}
