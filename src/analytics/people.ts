import { ratio } from './stats.ts';
import type { ProjectTimeline } from './timeline.ts';

/** Concurrent projects per person in one window of time. */
export interface PeopleWindow {
  from: string;
  to: string;
  /** Projects active (not on hold, completed or cancelled) at some time in the window. */
  active_projects: number;
  /** Distinct people (not agents) who acted on those projects in the window. */
  people: number;
  projects_per_person: number | null;
}

export interface PeopleFigure {
  /** The promised multiple of projects per person, against the baseline. */
  target: number;
  current: PeopleWindow;
  /** The first window of the scope's history, or null when the history is shorter than two windows. */
  baseline: PeopleWindow | null;
  /** current ÷ baseline projects per person. */
  growth: number | null;
}

export const PEOPLE_GROWTH_TARGET = 10;

/** Counts active projects and acting people per window: [current, baseline?]. */
export class People {
  readonly #windows: readonly [number, number][];
  readonly #active: number[];
  readonly #people: Set<string>[];

  constructor(windows: readonly [number, number][]) {
    this.#windows = windows;
    this.#active = windows.map(() => 0);
    this.#people = windows.map(() => new Set());
  }

  add(t: ProjectTimeline): void {
    this.#windows.forEach(([from, to], i) => {
      if (t.activeSpans.some(([a, b]) => a <= to && (b === null || b >= from))) this.#active[i]!++;
      for (const p of t.people[i] ?? []) this.#people[i]!.add(p);
    });
  }

  figure(): PeopleFigure {
    const win = (i: number): PeopleWindow => {
      const [from, to] = this.#windows[i]!;
      const people = this.#people[i]!.size;
      return {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        active_projects: this.#active[i]!,
        people,
        projects_per_person: ratio(this.#active[i]!, people),
      };
    };
    const current = win(0);
    const baseline = this.#windows.length > 1 ? win(1) : null;
    const growth =
      baseline?.projects_per_person && current.projects_per_person !== null
        ? current.projects_per_person / baseline.projects_per_person
        : null;
    return { target: PEOPLE_GROWTH_TARGET, current, baseline, growth };
  }
}
