import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { useMemo } from 'react';
import type { TargetLine, ValueReport } from '../../../src/analytics/report.ts';
import { type ApiError, api, qs } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { percent, valueCharts } from '../value-charts.ts';

/*
 * The value report from src/analytics (`valueReport(db, { project?, team? })`, GET /api/value): the
 * promises against their targets first, then each figure as a chart with "view as table", then the
 * forecasts and traceability as tables. docs/analytics.md says what every figure means.
 */

const VERDICT: Record<TargetLine['status'], { glyph: string; word: string; cls: string }> = {
  met: { glyph: '✓', word: 'met', cls: 's-pass' },
  missed: { glyph: '✗', word: 'missed', cls: 's-fail' },
  unknown: { glyph: '?', word: 'unknown', cls: 's-waived' },
};

/** The same short names `vt metrics` prints. */
const PROMISE: Record<TargetLine['id'], string> = {
  'deployment-speed': 'time to deployment (speed-up)',
  'first-pass-yield': 'first-pass gate yield',
  automation: 'routine work by agents',
  'projects-per-person': 'projects per person (growth)',
  traceability: 'traceable to evidence',
  signatures: 'signed by their author',
};

/** A figure as the CLI shows it: a share in %, a multiple with ×. */
function figure(value: number | null, unit: TargetLine['unit']): string {
  if (value === null) return '–';
  return unit === 'share' ? `${percent(value)!.toFixed(1)}%` : `${value.toFixed(2)}×`;
}

/** Forecasts shown at once; the rest are one `vt metrics --json` away. */
const FORECAST_ROWS = 50;

function Promises({ r }: { r: ValueReport }) {
  return (
    <table className="promises">
      <caption>The promises, measured from the event log</caption>
      <thead>
        <tr>
          <th scope="col">promise</th>
          <th scope="col">measured</th>
          <th scope="col">target</th>
          <th scope="col">status</th>
          <th scope="col">measured on</th>
        </tr>
      </thead>
      <tbody>
        {r.targets.map((t) => {
          const v = VERDICT[t.status];
          return (
            <tr key={t.id} data-target={t.id}>
              <th scope="row" title={t.promise}>
                {PROMISE[t.id]}
              </th>
              <td data-testid={`value-${t.id}`}>{figure(t.value, t.unit)}</td>
              <td>{figure(t.target, t.unit)}</td>
              <td>
                <span className={`badge ${v.cls}`}>
                  <span aria-hidden="true">{v.glyph}</span> {v.word}
                </span>
              </td>
              <td className="hint">{t.detail}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Forecasts({ r }: { r: ValueReport }) {
  if (!r.forecasts.length) return null;
  const shown = r.forecasts.slice(0, FORECAST_ROWS);
  const date = (iso: string | null) => (iso ? iso.slice(0, 10) : '–');
  return (
    <div className="scroll-x">
      <table>
        <caption>
          Forecasts: when each open project will probably reach deployment (or the end of the train)
        </caption>
        <thead>
          <tr>
            <th scope="col">project</th>
            <th scope="col">phase</th>
            <th scope="col">towards</th>
            <th scope="col">P50</th>
            <th scope="col">P85</th>
            <th scope="col">P90</th>
            <th scope="col">forecast</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((f) => (
            <tr key={f.project} data-forecast={f.project}>
              <th scope="row">
                <Link to="/projects/$id" params={{ id: f.project }}>
                  {f.project}
                </Link>
              </th>
              <td>{f.phase}</td>
              <td>{f.target}</td>
              <td>{date(f.p50)}</td>
              <td>{date(f.p85)}</td>
              <td>{date(f.p90)}</td>
              <td>{f.sentence}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {r.forecasts.length > shown.length && (
        <p className="hint">
          … {r.forecasts.length - shown.length} more (vt metrics --json for every forecast)
        </p>
      )}
    </div>
  );
}

function Traceability({ r }: { r: ValueReport }) {
  const t = r.traceability;
  const rows = [
    ['decisions (approvals, waivers, holds, …)', t.decisions],
    ['artifacts', t.artifacts],
  ] as const;
  return (
    <table>
      <caption>Traceability: what names its evidence, and what is signed</caption>
      <thead>
        <tr>
          <th scope="col">record</th>
          <th scope="col">total</th>
          <th scope="col">names its evidence</th>
          <th scope="col">signed</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([name, x]) => (
          <tr key={name}>
            <th scope="row">{name}</th>
            <td>{x.total}</td>
            <td>{x.evidence}</td>
            <td>{x.signed}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function scopeLine(r: ValueReport): string {
  const s = r.scope;
  const what =
    s.kind === 'project'
      ? `project ${s.project}`
      : s.kind === 'team'
        ? `team ${s.team ?? '(none)'}`
        : 'the portfolio';
  const p = r.projects;
  return `${what} · ${p.total} project${p.total === 1 ? '' : 's'} (${p.active} active, ${p.on_hold} on hold, ${p.completed} completed, ${p.cancelled} cancelled) · ${r.events} events · as of ${r.generated_at.slice(0, 16).replace('T', ' ')} UTC`;
}

export default function Value({
  search,
}: {
  search: { project?: string | undefined; team?: string | undefined };
}) {
  const navigate = useNavigate();
  // A report reads every event of its scope: refreshed once a minute, not on every live event.
  const q = useQuery({
    queryKey: ['value-report', search],
    queryFn: () => api<ValueReport>(`/api/value${qs(search)}`),
    retry: false,
    staleTime: 60_000,
    refetchInterval: 60_000,
  });
  const err = q.error as ApiError | null;
  const r = q.data;
  const charts = useMemo(() => (r ? valueCharts(r) : []), [r]);
  const forecast = r?.scope.kind === 'project' ? r.forecasts[0]?.sentence : undefined;
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
      {q.isPending && !err && <p className="muted">Computing the value report…</p>}
      {r && (
        <>
          <p className="hint" data-testid="value-scope">
            {scopeLine(r)}
          </p>
          {forecast && <p className="verdict">{forecast}</p>}
          {r.projects.total === 0 ? (
            <p className="muted">No projects yet: the figures appear as projects record their history.</p>
          ) : (
            <>
              <Promises r={r} />
              <div className="charts">
                {charts.map((c) => (
                  <Chart key={c.title} data={c} />
                ))}
              </div>
              <Forecasts r={r} />
              <Traceability r={r} />
            </>
          )}
        </>
      )}
    </section>
  );
}
