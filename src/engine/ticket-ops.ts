import { VtError } from '../errors.ts';
import { gatesPassed } from '../gates/registry.ts';
import type { GateResult } from '../gates/types.ts';
import type { DecisionProof } from '../identity/proof.ts';
import { nextClaimable, projectBusy } from '../store/claims.ts';
import { addMs, dbNow } from '../store/dialect.ts';
import {
  extendLease,
  projectOfTicket,
  releaseLease,
  requireLiveLease,
  sessionGen,
  upsertLease,
} from '../store/queue.ts';
import type { ContextKind } from '../types.ts';
import { decideCheck, decideCommit } from './core.ts';
import { sealDecision } from './decision-proof.ts';
import type { Committed, Engine, Who } from './engine.ts';
import { event } from './events.ts';
import type { TicketState } from './state.ts';
import {
  type ClaimMode,
  decideAddIssue,
  decideAssign,
  decideAwaitHuman,
  decideClaim,
  decideContext,
  decideDone,
  decideEndSession,
  decideFailAttempt,
  decideFinish,
  decideHandBack,
  decidePlan,
  decideRetry,
  decideStartSession,
  type IssueInput,
  isOpen,
} from './tickets.ts';

export interface Claim {
  projectId: string;
  ticket: TicketState;
  gen: number;
  mode: ClaimMode;
}

/** The engine calls the autopilot and the people around it make about issues, tickets and sessions. */
export class Tickets {
  readonly engine: Engine;
  constructor(engine: Engine) {
    this.engine = engine;
  }

  async projectOf(ticket: string): Promise<string> {
    const p = await projectOfTicket(this.engine.store.db, ticket);
    if (!p) throw new VtError('NOT_FOUND', `no ticket "${ticket}"`, { hint: 'See: vt issue list' });
    return p;
  }

  async addIssue(
    projectId: string,
    input: IssueInput,
    who: Who,
  ): Promise<Committed & { issue: string; ticket: string }> {
    const c = await this.engine.decide(projectId, who, (s, t) => decideAddIssue(s, t, input));
    const added = c.events.find((e) => e.type === 'issue.added');
    const queued = c.events.find((e) => e.type === 'ticket.queued');
    return {
      ...c,
      issue: added?.type === 'issue.added' ? added.payload.issue : '',
      ticket: queued?.type === 'ticket.queued' ? queued.payload.ticket : '',
    };
  }

  /** Queue a ticket for the project's current phase unless one is open; returns the open or new ticket. */
  async plan(projectId: string, who: Who): Promise<{ ticket: string; queued: boolean }> {
    const c = await this.engine.decide(projectId, who, (s, t) => decidePlan(s, t));
    const queued = c.events.find((e) => e.type === 'ticket.queued');
    if (queued?.type === 'ticket.queued') return { ticket: queued.payload.ticket, queued: !c.replayed };
    const open = Object.values(c.state.tickets).find((t) => t.phase === c.state.phase && isOpen(t));
    return { ticket: open?.id ?? '', queued: false };
  }

  assign(projectId: string, issue: string, assignee: string | null, who: Who): Promise<Committed> {
    return this.engine.decide(projectId, who, (s) => decideAssign(s, issue, assignee));
  }

  /**
   * Select and claim the next ticket in one transaction, so two workers can never take the same one.
   * Writes the lease row with the claim event; lease times come from the database's clock.
   */
  async claimNext(
    worker: string,
    opts: { project?: string | undefined; labels?: string[] | undefined; leaseMs: number },
  ): Promise<Claim | null> {
    const { engine } = this;
    const now = engine.clock.now();
    const who = { actor: 'autopilot' };
    const claimed = await engine.transaction(async (trx) => {
      const leaseNow = await dbNow(trx);
      const skipTickets = new Set<string>();
      const skipProjects = new Set<string>();
      for (let tries = 0; tries < 100; tries++) {
        const row = await nextClaimable(trx, {
          project: opts.project,
          labels: opts.labels,
          assignees: [worker],
          now: now.toISOString(),
          leaseNow,
          skipTickets,
          skipProjects,
        });
        if (!row) return null;
        // Another worker holds the project, or claimed in it since the query read: pass over it.
        if (
          !(await engine.store.tryLockProject(trx, row.project_id)) ||
          (await projectBusy(trx, row.project_id, leaseNow))
        ) {
          skipProjects.add(row.project_id);
          continue;
        }
        const s = await engine.state(row.project_id, trx);
        let d: ReturnType<typeof decideClaim>;
        try {
          d = decideClaim(s, row.id, worker, now, row.status === 'running');
        } catch (err) {
          if (err instanceof VtError) {
            skipTickets.add(row.id);
            continue;
          }
          throw err;
        }
        const recorded = await engine.appendIn(
          trx,
          row.project_id,
          { seq: s.seq, hash: s.headHash },
          d.events,
          who,
        );
        await upsertLease(trx, {
          ticket: row.id,
          project_id: row.project_id,
          worker,
          lease_gen: d.gen,
          expires_at: addMs(leaseNow, opts.leaseMs),
        });
        return { projectId: row.project_id, recorded, gen: d.gen, mode: d.mode, id: row.id };
      }
      return null;
    });
    if (!claimed) return null;
    const s = await engine.absorb(claimed.projectId, claimed.recorded);
    return {
      projectId: claimed.projectId,
      ticket: s.tickets[claimed.id]!,
      gen: claimed.gen,
      mode: claimed.mode,
    };
  }

  async startSession(
    claim: Claim,
    info: { role: string; executor: string; workspace: string; log: string; actor: string },
    support?: string,
  ): Promise<string> {
    let session = '';
    await this.engine.decide(
      claim.projectId,
      { actor: info.actor },
      (s) => {
        const d = decideStartSession(s, claim.ticket.id, claim.gen, info, support);
        session = d.session;
        return d.events;
      },
      async (trx, recorded) => {
        if (recorded.length) await requireLiveLease(trx, claim.ticket.id, claim.gen);
      },
    );
    return session;
  }

  endSession(
    projectId: string,
    session: string,
    result: Parameters<typeof decideEndSession>[2],
    who: Who,
  ): Promise<Committed> {
    return this.engine.decide(
      projectId,
      who,
      (s) => decideEndSession(s, session, result),
      async (trx, recorded, s) => {
        const gen = sessionGen(session);
        const ticket = s.sessions[session]?.ticket;
        if (recorded.length && ticket && gen !== null) await requireLiveLease(trx, ticket, gen);
      },
    );
  }

  addContext(
    projectId: string,
    entry: { kind: ContextKind; text: string; ticket?: string | null; session?: string | null },
    who: Who,
  ): Promise<Committed> {
    return this.engine.decide(projectId, who, (s) => decideContext(s, entry));
  }

  /**
   * Record the handoff packet a worker built for its claim. The claim's lease is checked in the same
   * transaction: a worker that lost its lease (paused, partitioned) records nothing.
   */
  recordHandoff(
    projectId: string,
    h: { phase: string; visit: number; path: string; sha256: string; tokens: number; truncated: boolean },
    who: Who,
    claim: Claim,
  ): Promise<Committed> {
    return this.engine.decide(
      projectId,
      who,
      () => [event('handoff.built', h)],
      async (trx) => {
        await requireLiveLease(trx, claim.ticket.id, claim.gen);
      },
    );
  }

  /** Evaluate the gates and move the project on, with the ticket's events and the lease release, in one transaction. */
  async finish(claim: Claim, who: Who, backoffBaseMs: number) {
    let outcome: ReturnType<typeof decideFinish>['outcome'] | undefined;
    let exit: GateResult[] = [];
    const c = await this.engine.commit(
      claim.projectId,
      who,
      async (s, t) => {
        const g = await this.engine.gatherTransition(s, t);
        exit = g.exit;
        return g;
      },
      (s, t, g) => {
        const d = decideFinish(s, t, claim.ticket.id, claim.gen, g, this.engine.clock.now(), backoffBaseMs);
        outcome = d.outcome;
        return d.events;
      },
      (trx) => releaseLease(trx, claim.ticket.id, claim.gen),
    );
    return { ...c, outcome: outcome!, results: exit };
  }

  failAttempt(claim: Claim, reason: string, who: Who, backoffBaseMs: number): Promise<Committed> {
    return this.engine.decide(
      claim.projectId,
      who,
      (s) => decideFailAttempt(s, claim.ticket.id, claim.gen, reason, this.engine.clock.now(), backoffBaseMs),
      (trx) => releaseLease(trx, claim.ticket.id, claim.gen),
    );
  }

  awaitHuman(claim: Claim, reason: string, who: Who): Promise<Committed> {
    return this.engine.decide(
      claim.projectId,
      who,
      (s) => decideAwaitHuman(s, claim.ticket.id, claim.gen, reason),
      (trx) => releaseLease(trx, claim.ticket.id, claim.gen),
    );
  }

  /**
   * Give a claimed ticket back (a worker shutting down): its sessions end as abandoned, the ticket is
   * queued again and the lease released, in one commit, so another worker can take it at once.
   */
  handBack(claim: Claim, reason: string, who: Who): Promise<Committed> {
    return this.engine.decide(
      claim.projectId,
      who,
      (s) => decideHandBack(s, claim.ticket.id, claim.gen, reason),
      (trx) => releaseLease(trx, claim.ticket.id, claim.gen),
    );
  }

  /** Extend the lease while work goes on; false means another worker has taken the ticket. */
  heartbeat(claim: Claim, worker: string, leaseMs: number): Promise<boolean> {
    return extendLease(this.engine.store.db, claim.ticket.id, claim.gen, worker, leaseMs);
  }

  /**
   * A person's human ticket is done: commit the folder they worked in, evaluate the phase's gates on
   * it (recorded), and send the ticket on when they pass. Returns the results, failing ones included.
   */
  async done(
    ticket: string,
    who: Who & { workspace?: string | undefined },
    proof?: DecisionProof,
  ): Promise<Committed & { results: GateResult[]; passed: boolean }> {
    const projectId = await this.projectOf(ticket);
    await this.engine.refuseSession(projectId, who, 'mark a ticket done');
    const headHash = await this.engine.signedHeadHash(projectId, proof);
    let results: GateResult[] = [];
    const c = await this.engine.commit(
      projectId,
      who,
      async (s, t) => {
        const snap = who.workspace ? await this.engine.io.snapshot(s.workspace, who.workspace, []) : null;
        results = await this.engine.evaluatePhase(s, t, s.phase, 'exit', snap);
        return snap;
      },
      (s, t, snap) =>
        sealDecision({
          s,
          train: t,
          kind: 'done',
          actor: who.actor,
          ticket,
          events: [
            ...(snap ? decideCommit(s, { session: null, ticket, ...snap }) : []),
            decideCheck(s, 'exit', s.phase, results),
            ...decideDone(s, ticket, results),
          ],
          proof,
          headHash,
          now: this.engine.clock.now(),
        }),
    );
    return { ...c, results, passed: gatesPassed(results) };
  }

  async retry(ticket: string, who: Who, proof?: DecisionProof): Promise<Committed> {
    const projectId = await this.projectOf(ticket);
    await this.engine.refuseSession(projectId, who, 'retry a ticket');
    const headHash = await this.engine.signedHeadHash(projectId, proof);
    return this.engine.decide(projectId, who, (s, t) =>
      sealDecision({
        s,
        train: t,
        kind: 'retry',
        actor: who.actor,
        ticket,
        events: decideRetry(s, ticket),
        proof,
        headHash,
        now: this.engine.clock.now(),
      }),
    );
  }
}
