import { ratio } from './stats.ts';
import type { ProjectTimeline } from './timeline.ts';

/** First-pass yield of one gate: of the visits in which it got a verdict, how many passed at once. */
export interface GateYield {
  phase: string;
  side: 'entry' | 'exit';
  gate: string;
  /** Visits in which the gate got a verdict. */
  evaluated: number;
  /** Visits in which its first verdict was a pass. */
  first_pass: number;
  rate: number | null;
}

export interface GateYieldFigure {
  target: number;
  evaluated: number;
  first_pass: number;
  rate: number | null;
  gates: GateYield[];
}

export const FIRST_PASS_TARGET = 0.95;

/**
 * A gate passes first time when its first verdict in a phase visit is a pass. An evaluation that
 * failed only because a sign-off had not been given yet is not a verdict: the gate was waiting.
 */
export class GateYields {
  readonly #gates = new Map<string, GateYield>();

  add(t: ProjectTimeline): void {
    for (const v of t.verdicts) {
      const key = `${v.phase}\u0000${v.side}\u0000${v.gate}`;
      let g = this.#gates.get(key);
      if (!g) {
        g = { phase: v.phase, side: v.side, gate: v.gate, evaluated: 0, first_pass: 0, rate: null };
        this.#gates.set(key, g);
      }
      g.evaluated++;
      if (v.passed) g.first_pass++;
    }
  }

  figure(phaseOrder: readonly string[]): GateYieldFigure {
    const rank = (p: string) => {
      const i = phaseOrder.indexOf(p);
      return i < 0 ? phaseOrder.length : i;
    };
    const gates = [...this.#gates.values()]
      .map((g) => ({ ...g, rate: ratio(g.first_pass, g.evaluated) }))
      .sort(
        (a, b) =>
          rank(a.phase) - rank(b.phase) ||
          a.phase.localeCompare(b.phase) ||
          (a.side === b.side ? 0 : a.side === 'entry' ? -1 : 1) ||
          a.gate.localeCompare(b.gate),
      );
    const evaluated = gates.reduce((n, g) => n + g.evaluated, 0);
    const first = gates.reduce((n, g) => n + g.first_pass, 0);
    return { target: FIRST_PASS_TARGET, evaluated, first_pass: first, rate: ratio(first, evaluated), gates };
  }
}
