import { plainDate } from './dates.ts';
import { ascending, quantileSorted } from './stats.ts';
import type { Stay } from './timeline.ts';

/** How a finished stay ended: the sample a forecast draws, duration and where it went, together. */
export interface StaySample {
  /** Milliseconds in the phase. */
  duration: number;
  exit: 'advance' | 'route' | 'rework' | 'complete';
  to: string | null;
}

/** Stays of one phase, sorted by duration, weighted for drawing. */
interface PhasePool {
  /** Finished stays, by duration. */
  samples: StaySample[];
  durations: Float64Array;
  /** cumulative[i]: the probability mass of samples[0..i-1] (Kaplan-Meier), so cumulative[n] is the total. */
  cumulative: Float64Array;
}

/**
 * A team's history: every stay, per phase. Finished stays are what a forecast draws; stays still open
 * (or cut short by a cancellation) only say the stay lasted at least that long. They are counted as
 * censored in a Kaplan-Meier estimate, so a team with many young projects — whose short stays have
 * finished and whose long ones have not — is not forecast as faster than it is.
 */
export class StayPool {
  readonly #finished = new Map<string, StaySample[]>();
  readonly #censored = new Map<string, number[]>();
  #frozen: Map<string, PhasePool> | null = null;

  /** Add a project's stays; open ones count as censored at their age at `now` (ms). */
  addStays(stays: readonly Stay[], now: number): void {
    this.#frozen = null;
    for (const s of stays) {
      if (s.leave === null || s.exit === null || s.exit === 'cancel') {
        let c = this.#censored.get(s.phase);
        if (!c) this.#censored.set(s.phase, (c = []));
        c.push(Math.max(0, (s.leave ?? now) - s.enter));
        continue;
      }
      let list = this.#finished.get(s.phase);
      if (!list) this.#finished.set(s.phase, (list = []));
      list.push({ duration: s.leave - s.enter, exit: s.exit, to: s.to });
    }
  }

  /** Finished stays in a phase. */
  size(phase: string): number {
    return this.#finished.get(phase)?.length ?? 0;
  }

  phase(phase: string): PhasePool | undefined {
    if (!this.#frozen) {
      this.#frozen = new Map();
      for (const [p, list] of this.#finished)
        this.#frozen.set(p, kaplanMeier(list, this.#censored.get(p) ?? []));
    }
    return this.#frozen.get(phase);
  }
}

/**
 * Kaplan-Meier weights of finished stays among censored ones: each finished stay gets the survival
 * just before it divided by the stays still at risk then (a censored stay is at risk at its own time).
 */
function kaplanMeier(finished: readonly StaySample[], censored: readonly number[]): PhasePool {
  const samples = [...finished].sort((a, b) => a.duration - b.duration);
  const cens = [...censored].sort(ascending);
  const n = samples.length;
  const cumulative = new Float64Array(n + 1);
  let atRisk = n + cens.length;
  let survival = 1;
  let c = 0;
  for (let i = 0; i < n; ) {
    const t = samples[i]!.duration;
    while (c < cens.length && cens[c]! < t) {
      atRisk--;
      c++;
    }
    let j = i;
    while (j < n && samples[j]!.duration === t) j++;
    const share = survival / atRisk;
    for (let k = i; k < j; k++) cumulative[k + 1] = cumulative[k]! + share;
    survival -= share * (j - i);
    atRisk -= j - i;
    i = j;
  }
  return { samples, durations: Float64Array.from(samples, (s) => s.duration), cumulative };
}

/** Draw a sample index in [from, n) in proportion to its weight. */
function draw(p: PhasePool, from: number, random: () => number): number {
  const n = p.samples.length;
  const lo = p.cumulative[from]!;
  const x = lo + random() * (p.cumulative[n]! - lo);
  // The first index whose cumulative mass passes x.
  let a = from;
  let b = n - 1;
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (p.cumulative[mid + 1]! <= x) a = mid + 1;
    else b = mid;
  }
  return a;
}

/** Where an open project stands. */
export interface Position {
  phase: string;
  /** When its current stay began (ms). */
  enteredAt: number;
}

export interface ForecastOptions {
  now: number;
  /** Stop at the first forward exit from this phase; null: at the end of the train. */
  until: string | null;
  trials: number;
  random: () => number;
  /** Fewer finished stays than this in a phase the walks pass through, and there is no forecast. */
  minStays: number;
}

export type ForecastResult =
  | { ok: true; p50: number; p85: number; p90: number; trials: number }
  | { ok: false; reason: string };

const MAX_STEPS = 500;

/** Index of the first duration ≥ x in an ascending array. */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Monte Carlo forecast of when a project reaches `until` (or the end of the train). Each trial walks
 * the train from the current phase by resampling finished stays of each phase it enters (weighted by
 * Kaplan-Meier) — duration and the transition taken, together, so rework loops and routes recur as
 * often as they did. The current stay is drawn only among stays at least as long as it already is
 * (its remaining time is the rest of that stay); a stay older than any seen ends now. Returns the
 * 50th, 85th and 90th percentile times (ms).
 */
export function forecastCompletion(pool: StayPool, at: Position, o: ForecastOptions): ForecastResult {
  const ends = new Float64Array(o.trials);
  const age = Math.max(0, o.now - at.enteredAt);
  const start = pool.phase(at.phase);
  // Where the stays at least as long as the current one begin (the same for every trial).
  const from = start ? lowerBound(start.durations, age) : 0;
  for (let trial = 0; trial < o.trials; trial++) {
    let phase = at.phase;
    let t = o.now;
    let done = false;
    for (let step = 0; step < MAX_STEPS && !done; step++) {
      const p = step === 0 ? start : pool.phase(phase);
      const n = p?.samples.length ?? 0;
      if (!p || n < o.minStays)
        return {
          ok: false,
          reason: `${n} finished stay${n === 1 ? '' : 's'} in ${phase} (needs ${o.minStays})`,
        };
      let s: StaySample;
      if (step > 0) {
        s = p.samples[draw(p, 0, o.random)]!;
        t += s.duration;
      } else if (from < n) {
        s = p.samples[draw(p, from, o.random)]!;
        t += s.duration - age;
      } else s = p.samples[draw(p, 0, o.random)]!;
      if (s.exit === 'complete' || (phase === o.until && s.exit !== 'rework')) done = true;
      else phase = s.to!;
    }
    if (!done)
      return { ok: false, reason: `the history does not reach ${o.until ?? 'the end'} from ${at.phase}` };
    ends[trial] = t;
  }
  ends.sort();
  const q = (x: number) => quantileSorted(ends, x);
  return { ok: true, p50: q(0.5), p85: q(0.85), p90: q(0.9), trials: o.trials };
}

/** "85% chance by 12 March". */
export function forecastSentence(p85: number, now: number): string {
  return `85% chance by ${plainDate(p85, now)}`;
}
