import type { ProjectStatus } from '../types.ts';
import { actorKind } from './actors.ts';
import type { Decision, Fact } from './facts.ts';
import { StandingWork } from './standing-work.ts';

/** One stay of a project in a phase, from entering it to leaving it. Times in ms since the epoch. */
export interface Stay {
  phase: string;
  visit: number;
  enter: number;
  /** null while the project is still there. */
  leave: number | null;
  /** How it left: a transition, the end of the train, or a cancellation; null while open. */
  exit: 'advance' | 'route' | 'rework' | 'complete' | 'cancel' | null;
  to: string | null;
}

/** The first verdict a gate got in one visit (evaluations awaiting a sign-off are not verdicts). */
export interface FirstVerdict {
  side: 'entry' | 'exit';
  phase: string;
  gate: string;
  passed: boolean;
}

export interface Split {
  agent: number;
  person: number;
}

export interface Tally {
  total: number;
  evidence: number;
  signed: number;
}

/** Everything the figures need from one project, folded from its events; its events are then dropped. */
export interface ProjectTimeline {
  id: string;
  name: string;
  team: string | null;
  train: string;
  createdAt: number;
  /** The statuses the figures know: they do not read project.operating or project.retired yet (counted as active). */
  status: Exclude<ProjectStatus, 'operating' | 'retired'>;
  stays: Stay[];
  /** First forward exit from the deployment phase (or the end of the train from it). */
  deployedAt: number | null;
  /** Forward exits from the deployment phase: models put into production. */
  deployments: number;
  verdicts: FirstVerdict[];
  /** Ticks, artifacts and sessions that stand as evidence (a failed session's are dropped). */
  ticks: Split;
  artifacts: Split;
  sessions: Split;
  /** phase -> session cost (USD), sessions ended, sessions that reported no cost. */
  costs: Record<string, { cost: number; sessions: number; unpriced: number }>;
  decisions: Record<Decision['what'], Tally>;
  /** Standing artifacts: how many, how many are in a recorded commit, how many are signed. */
  artifactTrace: Tally;
  /** Spans during which the project was active (not on hold, completed or cancelled). */
  activeSpans: [number, number | null][];
  /** Per window asked for: the people who acted in this project during it. */
  people: Set<string>[];
}

const tally = (): Tally => ({ total: 0, evidence: 0, signed: 0 });

/** Folds one project's facts, in seq order, into its timeline. */
export class TimelineBuilder {
  readonly #deployment: (train: string) => string | null;
  readonly #windows: readonly [number, number][];
  #t: ProjectTimeline | null = null;
  #visit = 0;
  #deployPhase: string | null = null;
  #seen = new Set<string>();
  /** The phase each session worked in (its cost is that phase's). */
  #sessionPhase = new Map<string, string>();
  #work: StandingWork | null = null;
  #tickets = new Map<string, string>();

  /** `windows`: [from, to] spans (ms) in which to collect the people who acted. */
  constructor(deployment: (train: string) => string | null, windows: readonly [number, number][]) {
    this.#deployment = deployment;
    this.#windows = windows;
  }

  add(f: Fact): void {
    if (f.kind === 'created') {
      this.#start(f);
      return;
    }
    const t = this.#t;
    if (!t) throw new Error(`project ${f.project} has events before project.created`);
    if (actorKind(f.actor) === 'person') this.#person(t, f.actor, f.ts);
    if (f.decision) {
      const d = t.decisions[f.decision.what];
      d.total++;
      if (f.decision.evidence) d.evidence++;
      if (f.decision.signed) d.signed++;
    }
    const open = t.stays[t.stays.length - 1];
    switch (f.kind) {
      case 'moved': {
        if (open && open.leave === null) {
          open.leave = f.ts;
          open.exit = f.how;
          open.to = f.to;
        }
        if (f.from === this.#deployPhase && f.how !== 'rework') {
          t.deployments++;
          t.deployedAt ??= f.ts;
        }
        if (f.to === null) {
          t.status = 'completed';
          this.#closeSpan(t, f.ts);
        } else {
          this.#visit++;
          t.stays.push({ phase: f.to, visit: this.#visit, enter: f.ts, leave: null, exit: null, to: null });
        }
        break;
      }
      case 'status': {
        const was = t.status;
        if (f.status === 'cancelled') {
          if (open && open.leave === null) {
            open.leave = f.ts;
            open.exit = 'cancel';
          }
          this.#closeSpan(t, f.ts);
        } else if (f.status === 'on-hold') this.#closeSpan(t, f.ts);
        else {
          if (f.reopened !== null && (was === 'completed' || was === 'cancelled'))
            t.stays.push({
              phase: f.reopened,
              visit: this.#visit,
              enter: f.ts,
              leave: null,
              exit: null,
              to: null,
            });
          if (was !== 'active') t.activeSpans.push([f.ts, null]);
        }
        t.status = f.status;
        break;
      }
      case 'gate':
        for (const v of f.verdicts) {
          if (v.pending) continue;
          const key = `${f.side}\u0000${f.phase}\u0000${f.visit}\u0000${v.gate}`;
          if (this.#seen.has(key)) continue;
          this.#seen.add(key);
          t.verdicts.push({ side: f.side, phase: f.phase, gate: v.gate, passed: v.status === 'pass' });
        }
        break;
      case 'work':
        this.#work!.work(f);
        break;
      case 'committed':
        if (f.session !== null) this.#work!.committed(f.session);
        break;
      case 'session-started': {
        const agent = actorKind(f.actor) === 'agent' && f.executor !== 'human';
        this.#sessionPhase.set(f.session, f.phase);
        this.#work!.started(f.session, agent);
        break;
      }
      case 'session-ended': {
        const phase = this.#sessionPhase.get(f.session) ?? '?';
        const c = (t.costs[phase] ??= { cost: 0, sessions: 0, unpriced: 0 });
        c.sessions++;
        if (f.cost === null) c.unpriced++;
        else c.cost += f.cost;
        this.#work!.ended(f.session, f.succeeded);
        break;
      }
      case 'ticket': {
        // A person finishing a ticket that waited in their inbox did the session's work by hand.
        const was = this.#tickets.get(f.ticket);
        if (was === 'awaiting-human' && f.status === 'awaiting-gates' && actorKind(f.actor) === 'person')
          t.sessions.person++;
        this.#tickets.set(f.ticket, f.status);
        break;
      }
      default:
        break;
    }
  }

  /** The timeline so far (null when no project.created was seen); the builder is spent afterwards. */
  finish(): ProjectTimeline | null {
    const t = this.#t;
    this.#t = null;
    this.#work?.finish();
    this.#work = null;
    return t;
  }

  #start(f: Extract<Fact, { kind: 'created' }>): void {
    if (this.#t) throw new Error(`project ${f.project} is created twice`);
    this.#visit = 1;
    this.#deployPhase = this.#deployment(f.train);
    const empty = () => ({ agent: 0, person: 0 });
    this.#t = {
      id: f.project,
      name: f.name,
      team: f.team,
      train: f.train,
      createdAt: f.ts,
      status: 'active',
      stays: [{ phase: f.phase, visit: 1, enter: f.ts, leave: null, exit: null, to: null }],
      deployedAt: null,
      deployments: 0,
      verdicts: [],
      ticks: empty(),
      artifacts: empty(),
      sessions: empty(),
      costs: {},
      decisions: {
        approval: tally(),
        waiver: tally(),
        hold: tally(),
        resume: tally(),
        cancel: tally(),
        reopen: tally(),
      },
      artifactTrace: tally(),
      activeSpans: [[f.ts, null]],
      people: this.#windows.map(() => new Set<string>()),
    };
    this.#work = new StandingWork(this.#t);
    if (actorKind(f.actor) === 'person') this.#person(this.#t, f.actor, f.ts);
  }

  #person(t: ProjectTimeline, actor: string, ts: number): void {
    this.#windows.forEach(([from, to], i) => {
      if (ts >= from && ts <= to) t.people[i]!.add(actor);
    });
  }

  #closeSpan(t: ProjectTimeline, ts: number): void {
    const last = t.activeSpans[t.activeSpans.length - 1];
    if (last && last[1] === null) last[1] = ts;
  }
}
