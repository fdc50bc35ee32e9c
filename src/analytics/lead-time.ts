import { ascending, type BoxStats, boxStats, quantileSorted } from './stats.ts';
import type { ProjectTimeline } from './timeline.ts';

/** Lead time of one phase: every finished stay (visit) in it, in seconds. */
export interface PhaseLeadTime {
  phase: string;
  name: string;
  /** Finished stays (a stay ended by cancellation is not a lead time). */
  visits: number;
  stats: BoxStats | null;
}

/** Where the deployment speed-up is measured from. */
export interface DeploymentBaseline {
  /** `given`: a figure the caller supplied; `earliest`: the first quarter of deployed projects, by creation. */
  source: 'given' | 'earliest';
  p50_s: number;
  projects: number;
}

export interface DeploymentLeadTime {
  /** Projects (in scope) that have deployed: created → first forward exit from the deployment phase. */
  deployed: number;
  stats: BoxStats | null;
  p50_s: number | null;
  p85_s: number | null;
  p95_s: number | null;
  baseline: DeploymentBaseline | null;
  /** baseline P50 ÷ P50 of the projects measured against it; null without a baseline. */
  speedup: number | null;
}

/** Collects stay durations per phase and lead times to deployment. */
export class LeadTimes {
  readonly #phases = new Map<string, number[]>();
  readonly #deploy: { created: number; s: number }[] = [];

  add(t: ProjectTimeline): void {
    for (const s of t.stays) {
      if (s.leave === null || s.exit === 'cancel') continue;
      let list = this.#phases.get(s.phase);
      if (!list) this.#phases.set(s.phase, (list = []));
      list.push((s.leave - s.enter) / 1000);
    }
    if (t.deployedAt !== null)
      this.#deploy.push({ created: t.createdAt, s: (t.deployedAt - t.createdAt) / 1000 });
  }

  /** Finished stay durations (s) of a phase, unsorted. */
  durations(phase: string): readonly number[] {
    return this.#phases.get(phase) ?? [];
  }

  phases(order: readonly { id: string; name: string }[]): PhaseLeadTime[] {
    return order.map(({ id, name }) => {
      const d = this.durations(id);
      return { phase: id, name, visits: d.length, stats: boxStats(d) };
    });
  }

  /**
   * Lead time to deployment. The speed-up compares a baseline P50 with the P50 of the projects after
   * it: a given baseline against every deployed project; else the earliest-created quarter of
   * deployed projects (at least 8 deployed) against the rest.
   */
  toDeployment(givenBaselineS: number | null): DeploymentLeadTime {
    const all = this.#deploy.map((d) => d.s);
    const stats = boxStats(all);
    const out: DeploymentLeadTime = {
      deployed: all.length,
      stats,
      p50_s: stats?.median ?? null,
      p85_s: stats?.p85 ?? null,
      p95_s: stats?.p95 ?? null,
      baseline: null,
      speedup: null,
    };
    const p50 = (xs: number[]) => quantileSorted(xs.sort(ascending), 0.5);
    if (givenBaselineS !== null) {
      out.baseline = { source: 'given', p50_s: givenBaselineS, projects: 0 };
      if (stats && stats.median > 0) out.speedup = givenBaselineS / stats.median;
    } else if (all.length >= 8) {
      const byCreation = [...this.#deploy].sort((a, b) => a.created - b.created || a.s - b.s);
      const k = Math.ceil(byCreation.length / 4);
      const base = p50(byCreation.slice(0, k).map((d) => d.s));
      const rest = p50(byCreation.slice(k).map((d) => d.s));
      out.baseline = { source: 'earliest', p50_s: base, projects: k };
      if (rest > 0) out.speedup = base / rest;
    }
    return out;
  }
}
