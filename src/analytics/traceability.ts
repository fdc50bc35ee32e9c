import type { Decision } from './facts.ts';
import { ratio } from './stats.ts';
import type { ProjectTimeline, Tally } from './timeline.ts';

export interface TallyFigure extends Tally {
  evidence_rate: number | null;
  signed_rate: number | null;
}

export interface TraceabilityFigure {
  target: number;
  /** Share of decisions and artifacts that name their evidence (an artifact hash, an evidence digest). */
  rate: number | null;
  /** Share of decisions and artifacts signed by their author. */
  signed_rate: number | null;
  /** Approvals, waivers and lifecycle changes (hold, resume, cancel, reopen), together and by kind. */
  decisions: TallyFigure & { kinds: Record<Decision['what'], Tally> };
  artifacts: TallyFigure;
}

export const TRACEABILITY_TARGET = 1;

const zero = (): Tally => ({ total: 0, evidence: 0, signed: 0 });
const figure = (t: Tally): TallyFigure => ({
  ...t,
  evidence_rate: ratio(t.evidence, t.total),
  signed_rate: ratio(t.signed, t.total),
});

/** How much of what people decided and what the work produced can be traced to evidence and a signer. */
export class Traceability {
  readonly #kinds: Record<Decision['what'], Tally> = {
    approval: zero(),
    waiver: zero(),
    hold: zero(),
    resume: zero(),
    cancel: zero(),
    reopen: zero(),
  };
  readonly #artifacts = zero();

  add(t: ProjectTimeline): void {
    for (const [what, d] of Object.entries(t.decisions) as [Decision['what'], Tally][]) {
      const k = this.#kinds[what];
      k.total += d.total;
      k.evidence += d.evidence;
      k.signed += d.signed;
    }
    this.#artifacts.total += t.artifactTrace.total;
    this.#artifacts.evidence += t.artifactTrace.evidence;
    this.#artifacts.signed += t.artifactTrace.signed;
  }

  figure(): TraceabilityFigure {
    const decisions = zero();
    for (const k of Object.values(this.#kinds)) {
      decisions.total += k.total;
      decisions.evidence += k.evidence;
      decisions.signed += k.signed;
    }
    const all = decisions.total + this.#artifacts.total;
    return {
      target: TRACEABILITY_TARGET,
      rate: ratio(decisions.evidence + this.#artifacts.evidence, all),
      signed_rate: ratio(decisions.signed + this.#artifacts.signed, all),
      decisions: { ...figure(decisions), kinds: structuredClone(this.#kinds) },
      artifacts: figure(this.#artifacts),
    };
  }
}
