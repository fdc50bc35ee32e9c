import type { RecordedEvent } from '../engine/events.ts';
import { readEvents, toRecorded } from './append.ts';
import type { Db, Trx } from './store.ts';

/** Projection tables, in the order a rebuild clears them. */
export const PROJECTION_TABLES = [
  'projects',
  'checklist',
  'artifacts',
  'metrics',
  'approvals',
  'waivers',
  'transitions',
  'issues',
  'tickets',
  'sessions',
  'context',
  'handoffs',
  'alerts',
] as const;

/**
 * Update the projections for one event. The same function serves live writes and rebuilds, so a
 * rebuild from events reproduces the live tables exactly.
 */
export async function project(trx: Trx, e: RecordedEvent, opts: { head?: boolean } = {}): Promise<void> {
  const pid = e.project_id;
  switch (e.type) {
    case 'project.created': {
      const p = e.payload;
      await trx
        .insertInto('projects')
        .values({
          id: pid,
          name: p.name,
          team: p.team,
          priority: p.priority,
          budget: p.budget,
          train_hash: p.train_hash,
          workspace: p.workspace,
          phase: p.phase,
          status: 'active',
          visit: 1,
          transitions: 0,
          created_at: e.ts,
          updated_at: e.ts,
          head_seq: e.seq,
          head_hash: e.hash,
          last_claim_at: null,
          phase_since: e.ts,
        })
        .execute();
      return;
    }
    case 'checklist.ticked':
    case 'checklist.reopened': {
      const ticked = e.type === 'checklist.ticked' ? 1 : 0;
      const reason = e.type === 'checklist.reopened' ? e.payload.reason : e.payload.note;
      await trx
        .insertInto('checklist')
        .values({
          project_id: pid,
          phase: e.payload.phase,
          item: e.payload.item,
          ticked,
          actor: e.actor,
          ts: e.ts,
          reason,
        })
        .onConflict((oc) =>
          oc
            .columns(['project_id', 'phase', 'item'])
            .doUpdateSet({ ticked, actor: e.actor, ts: e.ts, reason }),
        )
        .execute();
      break;
    }
    case 'artifact.recorded': {
      const { phase, artifact, path, workspace, sha256, size } = e.payload;
      const row = { path, workspace, sha256, size, actor: e.actor, ts: e.ts, seq: e.seq };
      await trx
        .insertInto('artifacts')
        .values({ project_id: pid, phase, artifact, ...row })
        .onConflict((oc) => oc.columns(['project_id', 'phase', 'artifact']).doUpdateSet(row))
        .execute();
      break;
    }
    case 'metric.recorded':
      await trx
        .insertInto('metrics')
        .values({ project_id: pid, seq: e.seq, ...e.payload, actor: e.actor, ts: e.ts })
        .execute();
      break;
    case 'gate.evaluated':
      // Gate results and their evidence live in the event itself (vt audit log, vt gate check --json);
      // no projection row, so a transition writes fewer pages before its durable commit.
      break;
    case 'phase.advanced':
      await trx
        .insertInto('transitions')
        .values({
          project_id: pid,
          n: e.payload.n,
          seq: e.seq,
          from_phase: e.payload.from,
          to_phase: e.payload.to,
          kind: e.payload.kind,
          reason: e.payload.reason,
          ts: e.ts,
        })
        .execute();
      await trx
        .updateTable('projects')
        .set((eb) => ({
          phase: e.payload.to,
          visit: eb('visit', '+', 1),
          transitions: e.payload.n,
          phase_since: e.ts,
        }))
        .where('id', '=', pid)
        .execute();
      break;
    case 'project.completed':
      await trx
        .insertInto('transitions')
        .values({
          project_id: pid,
          n: e.payload.n,
          seq: e.seq,
          from_phase: e.payload.from,
          to_phase: null,
          kind: 'advance',
          reason: e.payload.reason,
          ts: e.ts,
        })
        .execute();
      await trx
        .updateTable('projects')
        .set({ status: 'completed', transitions: e.payload.n })
        .where('id', '=', pid)
        .execute();
      break;
    case 'approval.recorded': {
      const { confirmation: _, ...p } = e.payload;
      await trx
        .insertInto('approvals')
        .values({ project_id: pid, seq: e.seq, ...p, actor: e.actor, ts: e.ts })
        .execute();
      break;
    }
    case 'gate.waived': {
      const { confirmation: _, ...p } = e.payload;
      await trx
        .insertInto('waivers')
        .values({ project_id: pid, seq: e.seq, ...p, actor: e.actor, ts: e.ts })
        .execute();
      break;
    }
    case 'project.held':
    case 'project.resumed':
    case 'project.cancelled':
    case 'project.reopened': {
      const status = {
        'project.held': 'on-hold',
        'project.resumed': 'active',
        'project.cancelled': 'cancelled',
        'project.reopened': 'active',
      }[e.type];
      await trx.updateTable('projects').set({ status }).where('id', '=', pid).execute();
      break;
    }
  }
  await projectAutopilot(trx, e);
  // A command's events move the head once, after its last event (opts.head false for the others).
  if (opts.head === false) return;
  await trx
    .updateTable('projects')
    .set({ head_seq: e.seq, head_hash: e.hash, updated_at: e.ts })
    .where('id', '=', pid)
    .execute();
}

/** Projections of issues, tickets, sessions, context, handoffs and alerts. */
async function projectAutopilot(trx: Trx, e: RecordedEvent): Promise<void> {
  const pid = e.project_id;
  switch (e.type) {
    case 'issue.added': {
      const p = e.payload;
      await trx
        .insertInto('issues')
        .values({
          id: p.issue,
          project_id: pid,
          title: p.title,
          priority: p.priority,
          labels: JSON.stringify(p.labels),
          phase: p.phase,
          source: p.source,
          external_repo: p.external?.repo ?? null,
          external_number: p.external?.number ?? null,
          assignee: null,
          closed: 0,
          created_at: e.ts,
          seq: e.seq,
        })
        .execute();
      break;
    }
    case 'issue.assigned':
      await trx
        .updateTable('issues')
        .set({ assignee: e.payload.assignee })
        .where('id', '=', e.payload.issue)
        .execute();
      break;
    case 'issue.closed':
      await trx.updateTable('issues').set({ closed: 1 }).where('id', '=', e.payload.issue).execute();
      break;
    case 'ticket.queued': {
      const p = e.payload;
      const issue = await trx
        .selectFrom('issues')
        .select(['priority', 'labels'])
        .where('id', '=', p.issue)
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('tickets')
        .values({
          id: p.ticket,
          project_id: pid,
          issue: p.issue,
          phase: p.phase,
          visit: p.visit,
          branch: p.branch,
          base: p.base,
          status: 'queued',
          attempts: 0,
          lease_gen: 0,
          worker: null,
          not_before: null,
          session: null,
          priority: issue.priority,
          labels: issue.labels,
          created_at: e.ts,
          updated_at: e.ts,
          seq: e.seq,
        })
        .execute();
      break;
    }
    case 'ticket.claimed':
      await trx
        .updateTable('tickets')
        .set({
          status: 'running',
          lease_gen: e.payload.lease_gen,
          worker: e.payload.worker,
          not_before: null,
          updated_at: e.ts,
        })
        .where('id', '=', e.payload.ticket)
        .execute();
      await trx.updateTable('projects').set({ last_claim_at: e.ts }).where('id', '=', pid).execute();
      break;
    case 'ticket.status': {
      const p = e.payload;
      await trx
        .updateTable('tickets')
        .set({
          status: p.status,
          attempts: p.attempts,
          not_before: p.not_before,
          updated_at: e.ts,
          ...(p.status === 'running' ? {} : { worker: null }),
        })
        .where('id', '=', p.ticket)
        .execute();
      break;
    }
    case 'ticket.finished':
      await trx
        .updateTable('tickets')
        .set({ status: e.payload.outcome, worker: null, updated_at: e.ts })
        .where('id', '=', e.payload.ticket)
        .execute();
      break;
    case 'session.started': {
      const p = e.payload;
      await trx
        .insertInto('sessions')
        .values({
          id: p.session,
          project_id: pid,
          ticket: p.ticket,
          phase: p.phase,
          role: p.role,
          executor: p.executor,
          actor: e.actor,
          workspace: p.workspace,
          log: p.log,
          started_at: e.ts,
          ended_at: null,
          outcome: null,
          exit_code: null,
          summary: null,
          tokens_in: null,
          tokens_out: null,
          cost: null,
        })
        .execute();
      await trx.updateTable('tickets').set({ session: p.session }).where('id', '=', p.ticket).execute();
      break;
    }
    case 'session.ended': {
      const { session, ...rest } = e.payload;
      await trx
        .updateTable('sessions')
        .set({ ended_at: e.ts, ...rest })
        .where('id', '=', session)
        .execute();
      break;
    }
    case 'context.added':
      await trx
        .insertInto('context')
        .values({ project_id: pid, seq: e.seq, ...e.payload, actor: e.actor, ts: e.ts })
        .execute();
      break;
    case 'handoff.built': {
      const p = e.payload;
      await trx
        .insertInto('handoffs')
        .values({ project_id: pid, seq: e.seq, ...p, truncated: p.truncated ? 1 : 0, ts: e.ts })
        .execute();
      break;
    }
    case 'alert.raised':
      await trx
        .insertInto('alerts')
        .values({ project_id: pid, seq: e.seq, ticket: e.payload.ticket, reason: e.payload.reason, ts: e.ts })
        .execute();
      break;
    default:
      break;
  }
}

/** Clear every projection and replay all events into it, in one transaction. */
export async function rebuildProjections(store: {
  transaction<T>(fn: (trx: Trx) => Promise<T>): Promise<T>;
}): Promise<{ events: number; projects: number }> {
  return store.transaction(async (trx) => {
    for (const t of PROJECTION_TABLES) await trx.deleteFrom(t).execute();
    const ids = await trx
      .selectFrom('events')
      .select('project_id')
      .distinct()
      .orderBy('project_id')
      .execute();
    let events = 0;
    for (const { project_id } of ids) {
      for (const row of await readEvents(trx, project_id)) {
        await project(trx, toRecorded(row));
        events++;
      }
    }
    return { events, projects: ids.length };
  });
}

/** Every projection row, sorted, for comparing a live store with a rebuilt one. */
export async function dumpProjections(db: Db): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of PROJECTION_TABLES) {
    const rows = await db.selectFrom(t).selectAll().execute();
    out[t] = rows.map((r) => JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)))).sort();
  }
  return out;
}
