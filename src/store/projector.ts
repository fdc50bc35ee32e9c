import type { RecordedEvent } from '../engine/events.ts';
import { readEvents, toRecorded } from './append.ts';
import { CLAIMABLE_STATUSES, moveClaimHeads, rankOf, rankSql, refreshClaimHeads } from './claims.ts';
import type { Db, Trx } from './store.ts';

/** Projection tables, in the order a rebuild clears them. */
export const PROJECTION_TABLES = [
  'projects',
  'checklist',
  'artifacts',
  'metrics',
  'commits',
  'approvals',
  'waivers',
  'transitions',
  'issues',
  'tickets',
  'sessions',
  'context',
  'handoffs',
  'alerts',
  'claim_heads',
  'scheduled_visits',
] as const;

/** Project events that can change which of its tickets wait to be claimed. */
const MOVES_PROJECT_CLAIMS = new Set<string>([
  'phase.advanced',
  'project.completed',
  'project.held',
  'project.resumed',
  'project.cancelled',
  'project.reopened',
  'project.operating',
  'project.retired',
]);

/** Keep the claim index (claim_heads) in step with the tickets and projects tables. */
async function projectClaims(trx: Trx, e: RecordedEvent): Promise<void> {
  if (MOVES_PROJECT_CLAIMS.has(e.type)) return refreshClaimHeads(trx, e.project_id);
  if (e.type === 'ticket.queued') return moveClaimHeads(trx, e.project_id, e.payload.ticket, 'queued');
  if (e.type === 'ticket.claimed') return moveClaimHeads(trx, e.project_id, e.payload.ticket, 'claimed');
  if (e.type === 'ticket.status' || e.type === 'ticket.finished')
    return moveClaimHeads(trx, e.project_id, e.payload.ticket, 'status');
}

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
          phase_visit: 1,
          phase_since: e.ts,
        })
        .execute();
      return;
    }
    case 'checklist.ticked':
    case 'checklist.reopened': {
      const ticked = e.type === 'checklist.ticked' ? 1 : 0;
      const reason = e.type === 'checklist.reopened' ? e.payload.reason : e.payload.note;
      const session = e.type === 'checklist.ticked' ? (e.payload.session ?? null) : null;
      const visit = e.payload.visit ?? (await currentVisit(trx, pid));
      const row = { ticked, actor: e.actor, ts: e.ts, reason, session, carried_from: null };
      await trx
        .insertInto('checklist')
        .values({ project_id: pid, phase: e.payload.phase, visit, item: e.payload.item, ...row })
        .onConflict((oc) => oc.columns(['project_id', 'phase', 'visit', 'item']).doUpdateSet(row))
        .execute();
      break;
    }
    case 'artifact.recorded': {
      const { phase, artifact, path, workspace, sha256, size } = e.payload;
      const visit = e.payload.visit ?? (await currentVisit(trx, pid));
      const row = {
        path,
        workspace,
        sha256,
        size,
        actor: e.actor,
        ts: e.ts,
        seq: e.seq,
        session: e.payload.session ?? null,
        commit_sha: e.payload.commit ?? null,
        carried_from: null,
      };
      await trx
        .insertInto('artifacts')
        .values({ project_id: pid, phase, visit, artifact, ...row })
        .onConflict((oc) => oc.columns(['project_id', 'phase', 'visit', 'artifact']).doUpdateSet(row))
        .execute();
      break;
    }
    case 'metric.recorded':
      await trx
        .insertInto('metrics')
        .values({
          project_id: pid,
          seq: e.seq,
          name: e.payload.name,
          phase: e.payload.phase,
          visit: e.payload.visit,
          value: e.payload.value,
          actor: e.actor,
          ts: e.ts,
          session: e.payload.session ?? null,
          carried_from: null,
        })
        .execute();
      break;
    case 'workspace.committed': {
      const p = e.payload;
      await trx
        .insertInto('commits')
        .values({
          project_id: pid,
          seq: e.seq,
          phase: p.phase,
          visit: p.visit,
          session: p.session,
          ticket: p.ticket,
          commit_sha: p.commit,
          tree: p.tree,
          actor: e.actor,
          ts: e.ts,
        })
        .execute();
      if (p.session !== null)
        await trx
          .updateTable('artifacts')
          .set({ commit_sha: p.commit })
          .where('project_id', '=', pid)
          .where('visit', '=', p.visit)
          .where('session', '=', p.session)
          .where('commit_sha', 'is', null)
          .execute();
      break;
    }
    case 'evidence.carried':
      await projectCarry(trx, e);
      break;
    case 'gate.evaluated':
      break; // folded into the project's state only (its last evaluation per phase)
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
          phase_visit: eb
            .selectFrom('transitions as t')
            .select((x) => x.fn.countAll<number>().as('n'))
            .where('t.project_id', '=', pid)
            .where('t.to_phase', '=', e.payload.to),
          phase_since: e.ts,
        }))
        .where('id', '=', pid)
        .execute();
      // The phase the project started in was entered once before any transition led to it.
      await trx
        .updateTable('projects')
        .set((eb) => ({ phase_visit: eb('phase_visit', '+', 1) }))
        .where('id', '=', pid)
        .where(({ exists, selectFrom }) =>
          exists(
            selectFrom('transitions as t')
              .select('t.n')
              .where('t.project_id', '=', pid)
              .where('t.n', '=', 1)
              .where('t.from_phase', '=', e.payload.to),
          ),
        )
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
      const p = e.payload;
      await trx
        .insertInto('approvals')
        .values({
          project_id: pid,
          seq: e.seq,
          phase: p.phase,
          visit: p.visit,
          role: p.role,
          decision: p.decision,
          reason: p.reason,
          digest: p.digest,
          actor: e.actor,
          ts: e.ts,
        })
        .execute();
      break;
    }
    case 'gate.waived': {
      await trx
        .insertInto('waivers')
        .values({
          project_id: pid,
          seq: e.seq,
          phase: e.payload.phase,
          gate: e.payload.gate,
          reason: e.payload.reason,
          expires_at: e.payload.expires_at,
          visit: e.payload.visit ?? null,
          confirms: e.payload.confirms ?? null,
          actor: e.actor,
          ts: e.ts,
        })
        .execute();
      break;
    }
    case 'project.upgraded': {
      await trx
        .updateTable('projects')
        .set({ train_hash: e.payload.to_hash })
        .where('id', '=', pid)
        .execute();
      break;
    }
    case 'project.held':
    case 'project.cancelled':
    case 'project.retired': {
      const status = {
        'project.held': 'on-hold',
        'project.cancelled': 'cancelled',
        'project.retired': 'retired',
      }[e.type];
      await trx.updateTable('projects').set({ status }).where('id', '=', pid).execute();
      break;
    }
    case 'project.resumed':
    case 'project.reopened':
      // Back to work: operating again if the project had entered its operations cycle.
      await trx
        .updateTable('projects')
        .set((eb) => ({
          status: eb.case().when('operating_since', 'is', null).then('active').else('operating').end(),
        }))
        .where('id', '=', pid)
        .execute();
      break;
    case 'project.operating':
      await trx
        .updateTable('projects')
        .set({ status: 'operating', operating_since: e.ts })
        .where('id', '=', pid)
        .execute();
      break;
    case 'visit.scheduled':
      await trx
        .insertInto('scheduled_visits')
        .values({
          project_id: pid,
          phase: e.payload.phase,
          due_at: e.payload.due_at,
          visit: e.payload.visit,
          schedule: e.payload.schedule,
          period_ms: e.payload.period_ms,
          seq: e.seq,
          ticket: null,
          queued_at: null,
          late_ms: null,
        })
        .execute();
      break;
    case 'visit.due':
      await trx
        .updateTable('scheduled_visits')
        .set({ ticket: e.payload.ticket, queued_at: e.ts, late_ms: e.payload.late_ms })
        .where('project_id', '=', pid)
        .where('phase', '=', e.payload.phase)
        .where('due_at', '=', e.payload.due_at)
        .execute();
      break;
    case 'schedule.missed':
      await trx
        .updateTable('scheduled_visits')
        .set({ missed: 1 })
        .where('project_id', '=', pid)
        .where('phase', '=', e.payload.phase)
        .where('due_at', '=', e.payload.due_at)
        .execute();
      break;
  }
  await projectAutopilot(trx, e);
  await projectClaims(trx, e);
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
          reason: p.reason,
          priority: issue.priority,
          labels: issue.labels,
          created_at: e.ts,
          updated_at: e.ts,
          seq: e.seq,
          claim_rank: rankOf(issue.priority),
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
          claim_rank: null,
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
          reason: p.reason,
          updated_at: e.ts,
          claim_rank: (CLAIMABLE_STATUSES as readonly string[]).includes(p.status) ? rankSql : null,
          ...(p.status === 'running' ? {} : { worker: null }),
        })
        .where('id', '=', p.ticket)
        .execute();
      break;
    }
    case 'ticket.finished':
      await trx
        .updateTable('tickets')
        .set({
          status: e.payload.outcome,
          reason: e.payload.reason,
          worker: null,
          updated_at: e.ts,
          claim_rank: null,
        })
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
      // A session that did not succeed leaves no evidence that counts (as in the engine's state).
      if (rest.outcome !== 'succeeded')
        for (const table of ['checklist', 'artifacts', 'metrics'] as const)
          await trx.deleteFrom(table).where('project_id', '=', pid).where('session', '=', session).execute();
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
    case 'event.erased':
      // Nothing of its own: the erasure re-projects the project from the events once the erased
      // payload holds its residue (store/erasure.ts), and a rebuild reads the residue directly.
      break;
    default:
      break;
  }
}

/** The project-wide visit number the project is in now (for events that do not carry it). */
async function currentVisit(trx: Trx, pid: string): Promise<number> {
  const row = await trx
    .selectFrom('projects')
    .select('visit')
    .where('id', '=', pid)
    .executeTakeFirstOrThrow();
  return row.visit;
}

/** Copy the carried rows of an earlier visit into the new one. */
async function projectCarry(
  trx: Trx,
  e: Extract<RecordedEvent, { type: 'evidence.carried' }>,
): Promise<void> {
  const p = e.payload;
  const pid = e.project_id;
  const from = (table: 'checklist' | 'artifacts') =>
    trx
      .selectFrom(table)
      .selectAll()
      .where('project_id', '=', pid)
      .where('phase', '=', p.phase)
      .where('visit', '=', p.from_visit);
  for (const r of await from('checklist')
    .where('item', 'in', p.items.length ? p.items : [''])
    .execute())
    await trx
      .insertInto('checklist')
      .values({ ...r, visit: p.visit, carried_from: p.from_visit })
      .onConflict((oc) => oc.doNothing())
      .execute();
  for (const r of await from('artifacts')
    .where('artifact', 'in', p.artifacts.length ? p.artifacts : [''])
    .execute())
    await trx
      .insertInto('artifacts')
      .values({ ...r, visit: p.visit, carried_from: p.from_visit })
      .onConflict((oc) => oc.doNothing())
      .execute();
  for (const name of p.metrics) {
    const m = await trx
      .selectFrom('metrics')
      .selectAll()
      .where('project_id', '=', pid)
      .where('phase', '=', p.phase)
      .where('visit', '=', p.from_visit)
      .where('name', '=', name)
      .orderBy('seq', 'desc')
      .executeTakeFirst();
    if (m)
      await trx
        .insertInto('metrics')
        .values({ ...m, seq: e.seq, visit: p.visit, carried_from: p.from_visit })
        .execute();
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
