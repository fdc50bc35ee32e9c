import { VtError } from '../errors.ts';
import { Automation } from './automation.ts';
import { Costs } from './cost.ts';
import { DAY_MS } from './dates.ts';
import { toFact } from './facts.ts';
import { Flow } from './flow.ts';
import { forecastCompletion, forecastSentence, StayPool } from './forecast.ts';
import { GateYields } from './gate-yield.ts';
import { LeadTimes } from './lead-time.ts';
import { People } from './people.ts';
import { seededRandom } from './random.ts';
import { type ForecastLine, targetLines, type ValueReport } from './report.ts';
import { type ProjectFilter, projectIndex, projectsEvents, type ReadDb, trainBodies } from './source.ts';
import { ascending, quantileSorted } from './stats.ts';
import { type ProjectTimeline, TimelineBuilder } from './timeline.ts';
import { Traceability } from './traceability.ts';
import { type TrainInfo, trainInfo } from './train-info.ts';

export type { ForecastLine, TargetLine, ValueReport } from './report.ts';

export interface ValueReportOptions {
  /** One project: its figures, forecast from its team's history. */
  project?: string | undefined;
  /** One team's projects (null: projects without a team). */
  team?: string | null | undefined;
  /** The time the report is as of (default: now); later events are ignored. */
  now?: Date | undefined;
  /** Days in the projects-per-person window (default 30). */
  windowDays?: number | undefined;
  /** Days of cumulative flow, ending today (default 90). */
  flowDays?: number | undefined;
  /** Monte Carlo walks per open project (default 2000). */
  trials?: number | undefined;
  /** Finished stays a phase needs before forecasts pass through it (default 5). */
  minStays?: number | undefined;
  /** Time to deployment before Value Train, in days: the base of the speed-up (default: the earliest deployments). */
  baselineDays?: number | null | undefined;
  /** Events per page read from the store (default 5000). */
  pageSize?: number | undefined;
}

interface OpenProject {
  id: string;
  team: string | null;
  status: 'active' | 'on-hold';
  phase: string;
  enteredAt: number;
  until: string | null;
}

const positive = (name: string, v: number | undefined, dflt: number, int = true) => {
  const x = v ?? dflt;
  if (!(Number.isFinite(x) && x > 0 && (!int || Number.isInteger(x))))
    throw new VtError('BAD_INPUT', `${name} must be a positive ${int ? 'integer' : 'number'}, not ${v}`);
  return x;
};

/**
 * The value report for a project, a team or the portfolio: lead times, first-pass gate yield,
 * automation, projects per person, cost, flow, traceability and forecasts, each promise against its
 * target. Reads events a page at a time and keeps per project only a compact timeline, dropped once
 * it has been counted.
 */
export async function valueReport(db: ReadDb, opts: ValueReportOptions = {}): Promise<ValueReport> {
  const now = (opts.now ?? new Date()).getTime();
  if (!Number.isFinite(now)) throw new VtError('BAD_INPUT', 'the report time is not a valid date');
  const windowDays = positive('the window (days)', opts.windowDays, 30);
  const flowDays = positive('the flow span (days)', opts.flowDays, 90);
  const trials = positive('the number of forecast trials', opts.trials, 2000);
  const minStays = positive('the minimum number of stays', opts.minStays, 5);
  const pageSize = positive('the page size', opts.pageSize, 5000);
  const baselineDays =
    opts.baselineDays == null ? null : positive('the baseline (days)', opts.baselineDays, 1, false);
  if (opts.project !== undefined && opts.team !== undefined)
    throw new VtError('USAGE', 'choose a project or a team, not both');

  const index = await projectIndex(db);
  let filter: ProjectFilter = { all: true };
  let scoped = index;
  if (opts.project !== undefined) {
    const row = index.find((p) => p.id === opts.project);
    if (!row)
      throw new VtError('NOT_FOUND', `no project "${opts.project}"`, {
        hint: 'List projects with: vt project list',
      });
    filter = { team: row.team };
    scoped = [row];
  } else if (opts.team !== undefined) {
    scoped = index.filter((p) => p.team === opts.team);
    if (!scoped.length) {
      const teams = [...new Set(index.map((p) => p.team).filter((t) => t !== null))].sort();
      throw new VtError('NOT_FOUND', `no project has the team "${opts.team}"`, {
        hint: teams.length
          ? `Teams: ${teams.join(', ')}`
          : 'No project has a team yet: vt project create NAME --team T',
      });
    }
    filter = { team: opts.team };
  }

  const trains = new Map<string, TrainInfo>();
  for (const t of await trainBodies(db)) trains.set(t.hash, trainInfo(t.hash, t.body));
  const deploymentOf = (hash: string) => trains.get(hash)?.deployment ?? null;

  const window = windowDays * DAY_MS;
  const windows: [number, number][] = [[now - window, now]];
  let first = Number.POSITIVE_INFINITY;
  for (const p of scoped) first = Math.min(first, Date.parse(p.created_at));
  if (first <= now && first + window <= now - window) windows.push([first, first + window]);

  const lead = new LeadTimes();
  const yields = new GateYields();
  const automation = new Automation();
  const people = new People(windows);
  const costs = new Costs();
  const flow = new Flow(now, flowDays);
  const trace = new Traceability();
  const pools = new Map<string, StayPool>();
  const open: OpenProject[] = [];
  const counts = { total: 0, active: 0, on_hold: 0, completed: 0, cancelled: 0 };
  const trainsInScope = new Set<string>();
  let events = 0;

  const count = (t: ProjectTimeline) => {
    counts.total++;
    counts[t.status === 'on-hold' ? 'on_hold' : t.status]++;
    trainsInScope.add(t.train);
    lead.add(t);
    yields.add(t);
    automation.add(t);
    people.add(t);
    costs.add(t);
    flow.add(t);
    trace.add(t);
    const stay = t.stays[t.stays.length - 1]!;
    if ((t.status === 'active' || t.status === 'on-hold') && stay.leave === null) {
      const deploy = deploymentOf(t.train);
      open.push({
        id: t.id,
        team: t.team,
        status: t.status,
        phase: stay.phase,
        enteredAt: stay.enter,
        until: deploy && t.deployedAt === null ? deploy : null,
      });
    }
  };

  for await (const rows of projectsEvents(db, filter, pageSize)) {
    const inScope = opts.project === undefined || rows[0]!.project_id === opts.project;
    const b = new TimelineBuilder(deploymentOf, windows);
    for (const row of rows) {
      const f = toFact(row);
      if (f.ts > now) break;
      b.add(f);
      if (inScope) events++;
    }
    const t = b.finish();
    if (!t) continue;
    const key = t.team ?? '';
    let pool = pools.get(key);
    if (!pool) pools.set(key, (pool = new StayPool()));
    pool.addStays(t.stays, now);
    if (inScope) count(t);
  }

  const phases: { id: string; name: string }[] = [];
  for (const hash of trainsInScope)
    for (const p of trains.get(hash)?.phases ?? []) if (!phases.some((x) => x.id === p.id)) phases.push(p);
  const order = phases.map((p) => p.id);
  const p85s = new Map<string, number | null>();
  const p85 = (phase: string) => {
    if (!p85s.has(phase)) {
      const d = lead.durations(phase);
      p85s.set(phase, d.length ? quantileSorted([...d].sort(ascending), 0.85) : null);
    }
    return p85s.get(phase)!;
  };

  const forecasts: ForecastLine[] = open
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((o) => {
      const f = forecastCompletion(pools.get(o.team ?? '') ?? new StayPool(), o, {
        now,
        until: o.until,
        trials,
        random: seededRandom(o.id),
        minStays,
      });
      const iso = (ms: number) => new Date(ms).toISOString();
      return {
        project: o.id,
        team: o.team,
        phase: o.phase,
        status: o.status,
        target: o.until ? 'deployment' : 'completion',
        p50: f.ok ? iso(f.p50) : null,
        p85: f.ok ? iso(f.p85) : null,
        p90: f.ok ? iso(f.p90) : null,
        sentence: f.ok ? forecastSentence(f.p85, now) : `no forecast: ${f.reason}`,
        trials: f.ok ? f.trials : 0,
      };
    });

  const body: Omit<ValueReport, 'targets'> = {
    version: 1,
    generated_at: new Date(now).toISOString(),
    scope: {
      kind: opts.project !== undefined ? 'project' : opts.team !== undefined ? 'team' : 'portfolio',
      team: opts.project !== undefined ? (scoped[0]?.team ?? null) : (opts.team ?? null),
      project: opts.project ?? null,
    },
    settings: {
      window_days: windowDays,
      flow_days: flowDays,
      forecast_trials: trials,
      min_stays: minStays,
      baseline_days: baselineDays,
    },
    projects: counts,
    events,
    deployment_phases: [...new Set([...trainsInScope].map(deploymentOf).filter((d) => d !== null))],
    lead_time: {
      phases: lead.phases(phases),
      to_deployment: lead.toDeployment(baselineDays === null ? null : baselineDays * 86_400),
    },
    gate_yield: yields.figure(order),
    automation: automation.figure(),
    people: people.figure(),
    cost: costs.figure(order),
    flow: { cumulative: flow.cumulative(order), wip: flow.wip(p85) },
    traceability: trace.figure(),
    forecasts,
  };
  return { ...body, targets: targetLines(body) };
}
