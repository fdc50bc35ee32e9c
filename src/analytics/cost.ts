import { ratio } from './stats.ts';
import type { ProjectTimeline } from './timeline.ts';

export interface CostLine {
  cost: number;
  /** Sessions that ended. */
  sessions: number;
  /** Of those, sessions that reported no cost (a person's tool, an unpriced model). */
  unpriced: number;
}

export interface CostFigure {
  /** Session costs are reported by executors in US dollars. */
  currency: 'USD';
  total: CostLine;
  phases: ({ phase: string } & CostLine)[];
  projects: ({ project: string } & CostLine)[];
  /** Forward exits from the deployment phase: each puts a model (or a retrained one) into production. */
  promoted_models: number;
  per_promoted_model: number | null;
}

const add = (into: CostLine, c: CostLine) => {
  into.cost += c.cost;
  into.sessions += c.sessions;
  into.unpriced += c.unpriced;
};
const zero = (): CostLine => ({ cost: 0, sessions: 0, unpriced: 0 });

/** What the work cost: session costs from session.ended, per phase, per project and per promoted model. */
export class Costs {
  readonly #total = zero();
  readonly #phases = new Map<string, CostLine>();
  readonly #projects: ({ project: string } & CostLine)[] = [];
  #promoted = 0;

  add(t: ProjectTimeline): void {
    const mine = zero();
    for (const [phase, c] of Object.entries(t.costs)) {
      let p = this.#phases.get(phase);
      if (!p) this.#phases.set(phase, (p = zero()));
      add(p, c);
      add(mine, c);
    }
    add(this.#total, mine);
    this.#projects.push({ project: t.id, ...mine });
    this.#promoted += t.deployments;
  }

  figure(phaseOrder: readonly string[]): CostFigure {
    const known = phaseOrder.filter((p) => this.#phases.has(p));
    const others = [...this.#phases.keys()].filter((p) => !phaseOrder.includes(p)).sort();
    return {
      currency: 'USD',
      total: { ...this.#total },
      phases: [...known, ...others].map((phase) => ({ phase, ...this.#phases.get(phase)! })),
      projects: [...this.#projects].sort((a, b) => b.cost - a.cost || a.project.localeCompare(b.project)),
      promoted_models: this.#promoted,
      per_promoted_model: ratio(this.#total.cost, this.#promoted),
    };
  }
}
