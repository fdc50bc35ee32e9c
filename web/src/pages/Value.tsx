import { useQuery } from '@tanstack/react-query';
import { useNavigate } from '@tanstack/react-router';
import { type ApiError, api, qs } from '../api.ts';
import { Chart, type ChartData } from '../components/Chart.tsx';

/*
 * The value report from src/analytics (`valueReport(db, { project?, team? })`), drawn as charts, each
 * with "view as table". Fields are read defensively: a section shows only when the report has it.
 */

type Obj = Record<string, unknown>;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const num = (v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null;

function leadTimes(r: Obj): ChartData | null {
  const rows = arr(r.lead_times ?? r.leadTimes);
  if (!rows.length) return null;
  const cols = ['p50', 'p85', 'p95'];
  return {
    title: 'Lead time per phase (days)',
    columns: ['phase', 'P50', 'P85', 'P95'],
    rows: rows.map((x) => [String(x.phase), ...cols.map((c) => num(x[c]))]),
    option: {
      legend: {},
      xAxis: { type: 'category', data: rows.map((x) => x.phase), axisLabel: { rotate: 40 } },
      yAxis: { type: 'value' },
      series: cols.map((c) => ({ type: 'bar', name: c.toUpperCase(), data: rows.map((x) => num(x[c])) })),
    },
  };
}

function ratio(r: Obj, key: string, alt: string, title: string, target: number): ChartData | null {
  const v = (r[key] ?? r[alt]) as Obj | number | undefined;
  const value =
    typeof v === 'number' ? v : num((v as Obj | undefined)?.value ?? (v as Obj | undefined)?.rate);
  if (value === null || value === undefined) return null;
  return {
    title: `${title} (target ${Math.round(target * 100)}%)`,
    columns: ['measure', 'value', 'target'],
    rows: [[title, value, target]],
    option: {
      xAxis: { type: 'category', data: [title, 'target'] },
      yAxis: { type: 'value', max: 1 },
      series: [{ type: 'bar', data: [value, target] }],
    },
  };
}

function series(r: Obj, key: string, title: string): ChartData | null {
  const rows = arr(r[key]);
  if (!rows.length) return null;
  const cols = Object.keys(rows[0]!);
  const [x, ...ys] = cols;
  return {
    title,
    columns: cols,
    rows: rows.map((row) =>
      cols.map((c) => (typeof row[c] === 'number' ? num(row[c]) : String(row[c] ?? ''))),
    ),
    option: {
      legend: {},
      xAxis: { type: 'category', data: rows.map((row) => String(row[x!])) },
      yAxis: { type: 'value' },
      series: ys
        .filter((y) => typeof rows[0]![y] === 'number')
        .map((y) => ({ type: 'line', name: y, data: rows.map((row) => num(row[y])) })),
    },
  };
}

export default function Value({
  search,
}: {
  search: { project?: string | undefined; team?: string | undefined };
}) {
  const navigate = useNavigate();
  const q = useQuery({
    queryKey: ['value', search],
    queryFn: () => api<Obj>(`/api/value${qs(search)}`),
    retry: false,
  });
  const err = q.error as ApiError | null;
  const r = q.data ?? {};
  const charts = [
    leadTimes(r),
    ratio(r, 'first_pass_yield', 'firstPassYield', 'First-pass gate yield', 0.95),
    ratio(r, 'automation_rate', 'automationRate', 'Automation rate', 0.8),
    series(r, 'cumulative_flow', 'Cumulative flow'),
    series(r, 'ageing_wip', 'Ageing work in progress'),
    series(r, 'cost_per_phase', 'Cost per phase'),
    series(r, 'cost_per_project', 'Cost per project'),
    series(r, 'projects_per_person', 'Projects per person'),
  ].filter((c): c is ChartData => c !== null);
  const forecast = (r.forecast as Obj | undefined)?.sentence ?? (r.forecast as Obj | undefined)?.text;
  return (
    <section aria-labelledby="value-h">
      <h1 id="value-h">Value</h1>
      <form className="filters" aria-label="Value filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Team{' '}
          <input
            defaultValue={search.team ?? ''}
            onBlur={(e) =>
              navigate({ to: '/value', search: { ...search, team: e.target.value || undefined } })
            }
          />
        </label>
        <label>
          Project{' '}
          <input
            defaultValue={search.project ?? ''}
            onBlur={(e) =>
              navigate({ to: '/value', search: { ...search, project: e.target.value || undefined } })
            }
          />
        </label>
      </form>
      {err && (
        <p role="alert">
          ✗ {err.message}
          {err.hint ? ` — ${err.hint}` : ''}
        </p>
      )}
      {typeof forecast === 'string' && <p className="verdict">{forecast}</p>}
      <div className="charts">
        {charts.map((c) => (
          <Chart key={c.title} data={c} />
        ))}
      </div>
    </section>
  );
}
