import type { ValueReport } from '../../src/analytics/report.ts';
import type { ChartData } from './components/Chart.tsx';

/*
 * The value report (src/analytics, `ValueReport`) as charts, each with the same numbers as a table.
 * Durations arrive in seconds and are shown in days; shares 0..1 as percentages; money in dollars.
 */

/** A unit of time for a chart's durations. */
interface TimeUnit {
  name: 'days' | 'hours' | 'minutes';
  seconds: number;
}

/** Days when the longest duration is two days or more, else hours, else minutes. */
export function unitFor(durations: readonly (number | null)[]): TimeUnit {
  const longest = Math.max(0, ...durations.filter((d): d is number => d !== null));
  if (longest >= 2 * 86_400) return { name: 'days', seconds: 86_400 };
  if (longest >= 2 * 3_600) return { name: 'hours', seconds: 3_600 };
  return { name: 'minutes', seconds: 60 };
}

/** Seconds in a unit, one decimal; null stays null (shown as –). */
export const inUnit = (s: number | null | undefined, u: TimeUnit) =>
  s === null || s === undefined ? null : Math.round((s / u.seconds) * 10) / 10;
/** A share as a percentage, one decimal. */
export const percent = (x: number | null | undefined) =>
  x === null || x === undefined ? null : Math.round(x * 1000) / 10;
const dollars = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);

/** Box plots of every finished stay per phase (whiskers at 1.5 × IQR). */
function leadTime(r: ValueReport): ChartData | null {
  const phases = r.lead_time.phases.filter((p) => p.stats);
  if (!phases.length) return null;
  const u = unitFor(phases.map((p) => p.stats!.max));
  const t = (s: number) => inUnit(s, u);
  return {
    title: `Lead time per phase (${u.name})`,
    columns: ['phase', 'stays', 'min', 'P50', 'P85', 'P95', 'max'],
    rows: phases.map((p) => {
      const s = p.stats!;
      return [p.name, p.visits, t(s.min), t(s.median), t(s.p85), t(s.p95), t(s.max)];
    }),
    option: {
      tooltip: { trigger: 'item' },
      xAxis: { type: 'category', data: phases.map((p) => p.name), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value', name: u.name },
      series: [
        {
          type: 'boxplot',
          name: 'stay',
          data: phases.map((p) => {
            const s = p.stats!;
            return [s.whisker_low, s.q1, s.median, s.q3, s.whisker_high].map(t);
          }),
        },
      ],
    },
  };
}

function gateYield(r: ValueReport): ChartData | null {
  const gates = r.gate_yield.gates;
  if (!gates.length) return null;
  const label = (g: (typeof gates)[number]) => `${g.phase} ${g.side === 'entry' ? '→ ' : ''}${g.gate}`;
  return {
    title: `First-pass gate yield (%, target ${percent(r.gate_yield.target)}%)`,
    columns: ['gate', 'visits with a verdict', 'passed first time', '%'],
    rows: gates.map((g) => [label(g), g.evaluated, g.first_pass, percent(g.rate)]),
    option: {
      xAxis: { type: 'category', data: gates.map(label), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value', max: 100 },
      series: [
        {
          type: 'bar',
          name: 'first pass %',
          data: gates.map((g) => percent(g.rate)),
          markLine: { symbol: 'none', data: [{ yAxis: percent(r.gate_yield.target) }] },
        },
      ],
    },
  };
}

function automation(r: ValueReport): ChartData | null {
  const a = r.automation;
  const kinds = [
    ['checklist ticks', a.ticks],
    ['artifacts', a.artifacts],
    ['sessions', a.sessions],
  ] as const;
  if (kinds.every(([, s]) => s.agent + s.person === 0)) return null;
  return {
    title: `Routine work by agents (target ${percent(a.target)}%)`,
    columns: ['work', 'by agents', 'by people', 'agents %'],
    rows: kinds.map(([k, s]) => [k, s.agent, s.person, percent(s.rate)]),
    option: {
      legend: {},
      xAxis: { type: 'category', data: kinds.map(([k]) => k) },
      yAxis: { type: 'value' },
      series: (['agent', 'person'] as const).map((who) => ({
        type: 'bar',
        stack: 'work',
        name: who === 'agent' ? 'agents' : 'people',
        data: kinds.map(([, s]) => s[who]),
      })),
    },
  };
}

function cumulativeFlow(r: ValueReport): ChartData | null {
  const f = r.flow.cumulative;
  const lines = [
    ...f.phases.map((p, i) => ({ name: p, data: f.counts[i]! })),
    { name: 'completed', data: f.completed },
    { name: 'cancelled', data: f.cancelled },
  ].filter((l) => l.data.some((n) => n > 0));
  if (!lines.length) return null;
  return {
    title: 'Cumulative flow (projects at the end of each day)',
    columns: ['day', ...lines.map((l) => l.name)],
    rows: f.days.map((d, i) => [d, ...lines.map((l) => l.data[i]!)]),
    option: {
      legend: { type: 'scroll' },
      xAxis: { type: 'category', data: f.days, boundaryGap: false },
      yAxis: { type: 'value' },
      series: lines.map((l) => ({
        type: 'line',
        stack: 'flow',
        areaStyle: {},
        symbol: 'none',
        name: l.name,
        data: l.data,
      })),
    },
  };
}

function wip(r: ValueReport): ChartData | null {
  const items = r.flow.wip;
  if (!items.length) return null;
  const u = unitFor(items.flatMap((w) => [w.age_s, w.phase_p85_s]));
  const days = (s: number | null) => inUnit(s, u);
  return {
    title: `Ageing work in progress (${u.name} in the current phase)`,
    columns: ['project', 'phase', 'status', 'age', 'phase P85', 'older than P85'],
    rows: items.map((w) => [
      w.project,
      w.phase,
      w.status,
      days(w.age_s),
      days(w.phase_p85_s),
      w.over_p85 ? 'yes' : 'no',
    ]),
    option: {
      xAxis: { type: 'category', data: items.map((w) => w.project), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value', name: u.name },
      series: [
        { type: 'bar', name: 'age', data: items.map((w) => days(w.age_s)) },
        {
          type: 'line',
          name: 'phase P85',
          symbol: 'rect',
          lineStyle: { opacity: 0 },
          data: items.map((w) => days(w.phase_p85_s)),
        },
      ],
    },
  };
}

function costPerPhase(r: ValueReport): ChartData | null {
  const phases = r.cost.phases;
  if (!phases.length) return null;
  return {
    title: 'Session cost per phase (USD)',
    columns: ['phase', 'sessions', 'unpriced', 'cost'],
    rows: phases.map((c) => [c.phase, c.sessions, c.unpriced, dollars(c.cost)]),
    option: {
      xAxis: { type: 'category', data: phases.map((c) => c.phase), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value', name: 'USD' },
      series: [{ type: 'bar', name: 'cost', data: phases.map((c) => dollars(c.cost)) }],
    },
  };
}

function projectsPerPerson(r: ValueReport): ChartData | null {
  const p = r.people;
  const windows = [
    ['now', p.current],
    ...(p.baseline ? ([['first window', p.baseline]] as const) : []),
  ] as const;
  return {
    title: `Active projects per person (${r.settings.window_days}-day windows)`,
    columns: ['window', 'from', 'to', 'active projects', 'people', 'per person'],
    rows: windows.map(([name, w]) => [
      name,
      w.from.slice(0, 10),
      w.to.slice(0, 10),
      w.active_projects,
      w.people,
      w.projects_per_person === null ? null : Math.round(w.projects_per_person * 100) / 100,
    ]),
    option: {
      xAxis: { type: 'category', data: windows.map(([name]) => name) },
      yAxis: { type: 'value' },
      series: [
        {
          type: 'bar',
          name: 'projects per person',
          data: windows.map(([, w]) => w.projects_per_person),
        },
      ],
    },
  };
}

/** Every chart the report has data for, in the order the page shows them. */
export function valueCharts(r: ValueReport): ChartData[] {
  return [
    leadTime(r),
    gateYield(r),
    automation(r),
    cumulativeFlow(r),
    wip(r),
    costPerPhase(r),
    projectsPerPerson(r),
  ].filter((c): c is ChartData => c !== null);
}
