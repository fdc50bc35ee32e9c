import { ratio } from './stats.ts';
import type { ProjectTimeline, Split } from './timeline.ts';

export interface SplitFigure extends Split {
  /** Share done by agents. */
  rate: number | null;
}

export interface AutomationFigure {
  target: number;
  /** Agents' share of all ticks, artifacts and sessions together. */
  rate: number | null;
  ticks: SplitFigure;
  artifacts: SplitFigure;
  /** Executor sessions, and tickets a person worked from the inbox. */
  sessions: SplitFigure;
}

export const AUTOMATION_TARGET = 0.8;

/** Who did the routine work: checklist ticks, recorded artifacts and work sessions, agent or person. */
export class Automation {
  readonly #ticks: Split = { agent: 0, person: 0 };
  readonly #artifacts: Split = { agent: 0, person: 0 };
  readonly #sessions: Split = { agent: 0, person: 0 };

  add(t: ProjectTimeline): void {
    for (const [into, from] of [
      [this.#ticks, t.ticks],
      [this.#artifacts, t.artifacts],
      [this.#sessions, t.sessions],
    ] as const) {
      into.agent += from.agent;
      into.person += from.person;
    }
  }

  figure(): AutomationFigure {
    const f = (s: Split): SplitFigure => ({ ...s, rate: ratio(s.agent, s.agent + s.person) });
    const agent = this.#ticks.agent + this.#artifacts.agent + this.#sessions.agent;
    const person = this.#ticks.person + this.#artifacts.person + this.#sessions.person;
    return {
      target: AUTOMATION_TARGET,
      rate: ratio(agent, agent + person),
      ticks: f(this.#ticks),
      artifacts: f(this.#artifacts),
      sessions: f(this.#sessions),
    };
  }
}
