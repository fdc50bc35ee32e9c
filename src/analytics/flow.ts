import { dayKey, dayOf } from './dates.ts';
import type { ProjectTimeline } from './timeline.ts';

/** Cumulative flow: how many projects were in each phase (or done) at the end of each UTC day. */
export interface CumulativeFlow {
  days: string[];
  phases: string[];
  /** counts[i][d]: projects in phases[i] at the end of days[d] (active or on hold). */
  counts: number[][];
  /** Projects completed, and cancelled, by the end of each day. */
  completed: number[];
  cancelled: number[];
}

/** A stay still open now, with its age against the phase's usual lead time. */
export interface WipItem {
  project: string;
  phase: string;
  visit: number;
  status: 'active' | 'on-hold';
  entered_at: string;
  age_s: number;
  /** P85 of finished stays in this phase (in scope), or null without history. */
  phase_p85_s: number | null;
  over_p85: boolean;
}

/** Counts stays per phase per day over a window of days ending today, and collects open stays. */
export class Flow {
  readonly #first: number;
  readonly #last: number;
  readonly #now: number;
  readonly #diff = new Map<string, Int32Array>();
  readonly #completed: Int32Array;
  readonly #cancelled: Int32Array;
  readonly #open: Omit<WipItem, 'phase_p85_s' | 'over_p85'>[] = [];

  constructor(now: number, days: number) {
    this.#now = now;
    this.#last = dayOf(now);
    this.#first = this.#last - days + 1;
    this.#completed = new Int32Array(days + 1);
    this.#cancelled = new Int32Array(days + 1);
  }

  /** Add 1 on days [a, b) (day numbers; b null = still so), clipped to the window. */
  #span(into: Int32Array, a: number, b: number | null): void {
    const from = Math.max(a, this.#first);
    const to = Math.min(b ?? this.#last + 1, this.#last + 1);
    if (from >= to) return;
    into[from - this.#first]!++;
    into[to - this.#first]!--;
  }

  add(t: ProjectTimeline): void {
    t.stays.forEach((s, i) => {
      let diff = this.#diff.get(s.phase);
      if (!diff) this.#diff.set(s.phase, (diff = new Int32Array(this.#last - this.#first + 2)));
      this.#span(diff, dayOf(s.enter), s.leave === null ? null : dayOf(s.leave));
      if (s.exit === 'complete' || s.exit === 'cancel') {
        // Done (or dropped) until the project is reopened: the next stay's start, if any.
        const next = t.stays[i + 1];
        this.#span(
          s.exit === 'complete' ? this.#completed : this.#cancelled,
          dayOf(s.leave!),
          next ? dayOf(next.enter) : null,
        );
      }
    });
    const open = t.stays[t.stays.length - 1];
    if (open && open.leave === null && (t.status === 'active' || t.status === 'on-hold'))
      this.#open.push({
        project: t.id,
        phase: open.phase,
        visit: open.visit,
        status: t.status,
        entered_at: new Date(open.enter).toISOString(),
        age_s: (this.#now - open.enter) / 1000,
      });
  }

  cumulative(phaseOrder: readonly string[]): CumulativeFlow {
    const n = this.#last - this.#first + 1;
    const run = (diff: Int32Array | undefined) => {
      const out: number[] = [];
      let c = 0;
      for (let d = 0; d < n; d++) out.push((c += diff?.[d] ?? 0));
      return out;
    };
    const extra = [...this.#diff.keys()].filter((p) => !phaseOrder.includes(p)).sort();
    const phases = [...phaseOrder, ...extra];
    return {
      days: Array.from({ length: n }, (_, d) => dayKey(this.#first + d)),
      phases,
      counts: phases.map((p) => run(this.#diff.get(p))),
      completed: run(this.#completed),
      cancelled: run(this.#cancelled),
    };
  }

  /** Open stays, oldest first, each against its phase's P85. */
  wip(p85: (phase: string) => number | null): WipItem[] {
    return this.#open
      .map((w) => {
        const limit = p85(w.phase);
        return { ...w, phase_p85_s: limit, over_p85: limit !== null && w.age_s > limit };
      })
      .sort((a, b) => b.age_s - a.age_s || a.project.localeCompare(b.project));
  }
}
