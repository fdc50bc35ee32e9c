import { actorKind } from './actors.ts';
import type { Fact } from './facts.ts';
import type { Split, Tally } from './timeline.ts';

type Work = Extract<Fact, { kind: 'work' }>;

/** Work of one session, held until the session says whether it stands. */
interface Held {
  agent: boolean;
  /** The session was started in this project (a session.started was read): it counts as a session. */
  started: boolean;
  ticks: number;
  artifacts: number;
  /** Artifacts whose hash is in a recorded commit. */
  sealed: number;
  /** Artifacts hashed in the session's worktree, waiting for the session to commit them. */
  unsealed: number;
  signed: number;
}

/** Where counted work goes: the timeline's splits and its artifact tally. */
export interface WorkTotals {
  ticks: Split;
  artifacts: Split;
  sessions: Split;
  artifactTrace: Tally;
}

/**
 * Counts the routine work that stands as evidence. An agent's session's ticks and artifacts, and the
 * session itself, stop counting when it ends without succeeding (the engine voids its evidence), so
 * they are held until it ends; a session still open counts, as its evidence stands until then.
 * An artifact names its evidence when its hash is in a recorded commit: its own (a person's work
 * is committed before it is recorded) or a `workspace.committed` of its session after it. Artifacts
 * of early histories, which carry no `commit` field, name their evidence by their hash alone.
 */
export class StandingWork {
  readonly #into: WorkTotals;
  readonly #held = new Map<string, Held>();

  constructor(into: WorkTotals) {
    this.#into = into;
  }

  /** A session started, by an agent or not. */
  started(session: string, agent: boolean): void {
    const h = this.#hold(session, agent);
    h.agent = agent;
    h.started = true;
  }

  work(f: Work): void {
    if (f.what === 'metric') return;
    const sealed = f.evidence && (f.commit !== null || f.legacy);
    if (f.session === null) {
      const agent = actorKind(f.actor) === 'agent';
      this.#add({
        agent,
        started: false,
        ticks: f.what === 'tick' ? 1 : 0,
        artifacts: f.what === 'artifact' ? 1 : 0,
        sealed: f.what === 'artifact' && sealed ? 1 : 0,
        unsealed: 0,
        signed: f.what === 'artifact' && f.signed ? 1 : 0,
      });
      return;
    }
    const h = this.#hold(f.session, actorKind(f.actor) === 'agent');
    if (f.what === 'tick') h.ticks++;
    else {
      h.artifacts++;
      if (sealed) h.sealed++;
      else if (f.evidence) h.unsealed++;
      if (f.signed) h.signed++;
    }
  }

  /** The session recorded a commit: the artifacts it hashed so far are in it. */
  committed(session: string): void {
    const h = this.#held.get(session);
    if (!h) return;
    h.sealed += h.unsealed;
    h.unsealed = 0;
  }

  /** The session ended: its work counts when it succeeded, and is dropped otherwise. */
  ended(session: string, succeeded: boolean): void {
    const h = this.#held.get(session);
    if (!h) return;
    this.#held.delete(session);
    if (succeeded) this.#add(h);
  }

  /** Sessions still open: their evidence stands for now. */
  finish(): void {
    for (const h of this.#held.values()) this.#add(h);
    this.#held.clear();
  }

  #hold(session: string, agent: boolean): Held {
    let h = this.#held.get(session);
    if (!h) {
      h = { agent, started: false, ticks: 0, artifacts: 0, sealed: 0, unsealed: 0, signed: 0 };
      this.#held.set(session, h);
    }
    return h;
  }

  #add(h: Held): void {
    const who = h.agent ? 'agent' : 'person';
    const t = this.#into;
    t.ticks[who] += h.ticks;
    t.artifacts[who] += h.artifacts;
    if (h.started) t.sessions[who]++;
    t.artifactTrace.total += h.artifacts;
    t.artifactTrace.evidence += h.sealed;
    t.artifactTrace.signed += h.signed;
  }
}
