import { decideDueVisit } from './due-visits.ts';
import type { Committed, Engine, Who } from './engine.ts';
import { isWorking } from './operations.ts';
import { Tickets } from './ticket-ops.ts';

/** Who queues scheduled visits, in the audit trail. */
export const SCHEDULER = 'scheduler';

/** The engine call that queues a scheduled visit when it falls due. */
export class Schedules {
  readonly engine: Engine;
  constructor(engine: Engine) {
    this.engine = engine;
  }

  /**
   * Queue the visit of `phase` due at `dueAt` if it is still the project's waiting visit and due now.
   * The idempotency key names (project, phase, due time): however many workers ask at once, one
   * commits the visit and the others find it done. Returns what was committed (nothing when not due).
   */
  queueDue(projectId: string, phase: string, dueAt: string): Promise<Committed> {
    const key = `schedule:${phase}:${dueAt}`;
    return this.engine.decide(projectId, { actor: SCHEDULER, idempotencyKey: key, request: key }, (s, t) => {
      const v = s.scheduled;
      if (!v || v.phase !== phase || v.dueAt !== dueAt) return [];
      return decideDueVisit(s, t, this.engine.clock.now());
    });
  }

  /**
   * The Conductor's planning step for one project: a scheduled visit that waits is queued only once it
   * is due (never early); otherwise, when no ticket is open in the current phase, one is queued for it.
   * Returns the ticket this call queued, or null.
   */
  async plan(projectId: string, who: Who): Promise<string | null> {
    const { engine } = this;
    const s = await engine.state(projectId);
    const v = s.scheduled;
    if (isWorking(s) && v && v.ticket === null && v.phase === s.phase && v.visit === s.visit) {
      if (Date.parse(v.dueAt) > engine.clock.now().getTime()) return null;
      const c = await this.queueDue(projectId, v.phase, v.dueAt);
      const due = c.events.find((e) => e.type === 'visit.due');
      return !c.replayed && due?.type === 'visit.due' ? due.payload.ticket : null;
    }
    const p = await new Tickets(engine).plan(projectId, who);
    return p.queued ? p.ticket : null;
  }
}
