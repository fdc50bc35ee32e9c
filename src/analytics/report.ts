import type { AutomationFigure } from './automation.ts';
import type { CostFigure } from './cost.ts';
import type { CumulativeFlow, WipItem } from './flow.ts';
import type { GateYieldFigure } from './gate-yield.ts';
import type { DeploymentLeadTime, PhaseLeadTime } from './lead-time.ts';
import type { PeopleFigure } from './people.ts';
import type { TraceabilityFigure } from './traceability.ts';

/*
 * The value report: plain JSON (no Map, no undefined, no NaN), the same object `vt metrics --json`
 * prints and the dashboard's Value page reads. Durations are seconds, times ISO-8601 UTC, shares
 * 0..1, money US dollars. docs/analytics.md describes every field.
 */

/** One promise of the product, measured. */
export interface TargetLine {
  id:
    | 'deployment-speed'
    | 'first-pass-yield'
    | 'automation'
    | 'projects-per-person'
    | 'traceability'
    | 'signatures';
  promise: string;
  /** The measured figure: a multiple (unit `multiple`) or a share 0..1 (unit `share`); null when unknown. */
  value: number | null;
  target: number;
  unit: 'multiple' | 'share';
  /** `unknown`: not enough history to measure it (see `detail`). */
  status: 'met' | 'missed' | 'unknown';
  detail: string;
}

/** When an open project will probably reach deployment (or the end of the train). */
export interface ForecastLine {
  project: string;
  team: string | null;
  phase: string;
  status: 'active' | 'on-hold';
  target: 'deployment' | 'completion';
  /** Percentile dates (ISO-8601) from the Monte Carlo walks; null when there is no forecast. */
  p50: string | null;
  p85: string | null;
  p90: string | null;
  /** "85% chance by 12 March", or why there is no forecast. */
  sentence: string;
  trials: number;
}

export interface ValueReport {
  /** Bumped when a field changes meaning. */
  version: 1;
  /** The time the report is as of: events after it are ignored. */
  generated_at: string;
  scope: { kind: 'portfolio' | 'team' | 'project'; team: string | null; project: string | null };
  settings: {
    window_days: number;
    flow_days: number;
    forecast_trials: number;
    min_stays: number;
    baseline_days: number | null;
  };
  projects: { total: number; active: number; on_hold: number; completed: number; cancelled: number };
  /** Events read for the scope. */
  events: number;
  /** Phases the trains in scope count as deployment. */
  deployment_phases: string[];
  targets: TargetLine[];
  lead_time: { phases: PhaseLeadTime[]; to_deployment: DeploymentLeadTime };
  gate_yield: GateYieldFigure;
  automation: AutomationFigure;
  people: PeopleFigure;
  cost: CostFigure;
  flow: { cumulative: CumulativeFlow; wip: WipItem[] };
  traceability: TraceabilityFigure;
  forecasts: ForecastLine[];
}

export const DEPLOYMENT_SPEEDUP_TARGET = 3;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const status = (value: number | null, target: number): TargetLine['status'] =>
  value === null ? 'unknown' : value >= target - 1e-12 ? 'met' : 'missed';

/** The product's five promises (signatures counted apart from evidence), each against its target. */
export function targetLines(r: Omit<ValueReport, 'targets'>): TargetLine[] {
  const d = r.lead_time.to_deployment;
  const g = r.gate_yield;
  const a = r.automation;
  const p = r.people;
  const t = r.traceability;
  const days = (s: number) => `${(s / 86_400).toFixed(1)} d`;
  return [
    {
      id: 'deployment-speed',
      promise: '3× faster time to deployment',
      value: d.speedup,
      target: DEPLOYMENT_SPEEDUP_TARGET,
      unit: 'multiple',
      status: status(d.speedup, DEPLOYMENT_SPEEDUP_TARGET),
      detail: !d.baseline
        ? `${d.deployed} deployed; a baseline needs 8 deployed projects or --baseline-days`
        : `P50 ${d.p50_s === null ? '–' : days(d.p50_s)} vs baseline ${days(d.baseline.p50_s)} (${d.baseline.source === 'given' ? 'given' : `first ${d.baseline.projects} deployed`})`,
    },
    {
      id: 'first-pass-yield',
      promise: '95% of work passes its gates the first time',
      value: g.rate,
      target: g.target,
      unit: 'share',
      status: status(g.rate, g.target),
      detail: `${g.first_pass} of ${g.evaluated} gate verdicts passed first time`,
    },
    {
      id: 'automation',
      promise: '80% of routine work done by agents',
      value: a.rate,
      target: a.target,
      unit: 'share',
      status: status(a.rate, a.target),
      detail: `ticks ${a.ticks.rate === null ? '–' : pct(a.ticks.rate)}, artifacts ${a.artifacts.rate === null ? '–' : pct(a.artifacts.rate)}, sessions ${a.sessions.rate === null ? '–' : pct(a.sessions.rate)} by agents`,
    },
    {
      id: 'projects-per-person',
      promise: '10× more concurrent projects per person',
      value: p.growth,
      target: p.target,
      unit: 'multiple',
      status: status(p.growth, p.target),
      detail: `${p.current.active_projects} active / ${p.current.people} people now${p.baseline ? `; ${p.baseline.active_projects} / ${p.baseline.people} in the first window` : '; the history is shorter than two windows'}`,
    },
    {
      id: 'traceability',
      promise: '100% of decisions and artifacts traceable to evidence',
      value: t.rate,
      target: t.target,
      unit: 'share',
      status: status(t.rate, t.target),
      detail: `${t.decisions.evidence + t.artifacts.evidence} of ${t.decisions.total + t.artifacts.total} name their evidence`,
    },
    {
      id: 'signatures',
      promise: '100% of decisions and artifacts signed',
      value: t.signed_rate,
      target: t.target,
      unit: 'share',
      status: status(t.signed_rate, t.target),
      detail: `${t.decisions.signed + t.artifacts.signed} of ${t.decisions.total + t.artifacts.total} signed`,
    },
  ];
}
