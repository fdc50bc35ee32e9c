import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef } from 'react';
import { api, qs } from '../api.ts';
import { Badge, statusOf } from '../status.tsx';

export interface PortfolioSearch {
  zoom?: 'flow' | 'heatmap' | 'matrix' | undefined;
  team?: string | undefined;
  priority?: string | undefined;
  status?: string | undefined;
}

export interface Meta {
  phases: { id: string; name: string; stage: string }[];
  priorities: string[];
  statuses: { project: Record<string, { glyph: string; word: string }> };
}

interface FlowColumn {
  phase: string;
  statuses: Record<string, number>;
  waiting: Record<string, number>;
  wip: number;
  median_age_days: number | null;
}

interface MatrixRow {
  id: string;
  name: string;
  team: string | null;
  priority: string;
  status: string;
  phase: string;
  days_in_phase: number;
  done: string[];
  looped: string[];
  ticket: { id: string; status: string } | null;
}

export const useMeta = () =>
  useQuery({ queryKey: ['meta'], queryFn: () => api<Meta>('/api/meta'), staleTime: 60_000 });

function Filters({ search, teams }: { search: PortfolioSearch; teams: (string | null)[] }) {
  const navigate = useNavigate();
  const meta = useMeta();
  const set = (patch: Partial<PortfolioSearch>) => navigate({ to: '/', search: { ...search, ...patch } });
  return (
    <form className="filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
      <label>
        Team{' '}
        <select
          value={search.team ?? '*'}
          onChange={(e) => set({ team: e.target.value === '*' ? undefined : e.target.value })}
        >
          <option value="*">all teams</option>
          {teams.map((t) => (
            <option key={t ?? ''} value={t ?? ''}>
              {t ?? '(no team)'}
            </option>
          ))}
        </select>
      </label>
      <label>
        Priority{' '}
        <select
          value={search.priority ?? ''}
          onChange={(e) => set({ priority: e.target.value || undefined })}
        >
          <option value="">any</option>
          {meta.data?.priorities.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
      </label>
      <label>
        State{' '}
        <select value={search.status ?? ''} onChange={(e) => set({ status: e.target.value || undefined })}>
          <option value="">any</option>
          {Object.entries(meta.data?.statuses.project ?? {}).map(([k, v]) => (
            <option key={k} value={k}>
              {v.glyph} {v.word}
            </option>
          ))}
        </select>
      </label>
    </form>
  );
}

export function Portfolio({ search }: { search: PortfolioSearch }) {
  const filter = { team: search.team, priority: search.priority, status: search.status };
  const flow = useQuery({
    queryKey: ['portfolio', 'flow', filter],
    queryFn: () =>
      api<{ columns: FlowColumn[]; teams: (string | null)[]; total: number }>(
        `/api/portfolio/flow${qs(filter)}`,
      ),
  });
  const zoom = search.zoom ?? 'flow';
  const zooms = [
    ['flow', 'Flow strip'],
    ['heatmap', 'Team × phase'],
    ['matrix', 'Project × phase'],
  ] as const;
  return (
    <section aria-labelledby="portfolio-h">
      <h1 id="portfolio-h">Portfolio</h1>
      <div className="bar">
        <Filters search={search} teams={flow.data?.teams ?? []} />
        <div role="tablist" aria-label="Zoom" className="zooms">
          {zooms.map(([z, label]) => (
            <Link key={z} to="/" search={{ ...search, zoom: z }} role="tab" aria-selected={zoom === z}>
              {label}
            </Link>
          ))}
        </div>
        <span className="muted">{flow.data ? `${flow.data.total} projects` : ''}</span>
      </div>
      {zoom === 'flow' && <FlowStrip columns={flow.data?.columns ?? []} />}
      {zoom === 'heatmap' && <Heatmap filter={filter} />}
      {zoom === 'matrix' && <Matrix filter={filter} total={flow.data?.total ?? 0} />}
    </section>
  );
}

function FlowStrip({ columns }: { columns: FlowColumn[] }) {
  const meta = useMeta();
  const byPhase = new Map(columns.map((c) => [c.phase, c]));
  return (
    <ol className="flow" aria-label="Projects by phase">
      {meta.data?.phases.map((p, i) => {
        const c = byPhase.get(p.id);
        return (
          <li key={p.id} className={`flowcol stage-${p.stage}`} data-phase={p.id}>
            <h2>
              <span className="muted">{i + 1}</span> {p.name}
            </h2>
            <p className="wip" title="active projects in this phase">
              WIP <strong>{c?.wip ?? 0}</strong>
            </p>
            <ul>
              {Object.entries(c?.statuses ?? {}).map(([s, n]) => (
                <li key={s}>
                  <Badge kind="project" status={s} /> {n}
                </li>
              ))}
              {Object.entries(c?.waiting ?? {}).map(([s, n]) => (
                <li key={s}>
                  <Badge kind="ticket" status={s} /> {n}
                </li>
              ))}
            </ul>
            <p className="age">median {c?.median_age_days != null ? `${c.median_age_days} d` : '–'}</p>
          </li>
        );
      })}
    </ol>
  );
}

function Heatmap({ filter }: { filter: Record<string, string | undefined> }) {
  const meta = useMeta();
  const q = useQuery({
    queryKey: ['portfolio', 'heatmap', filter],
    queryFn: () =>
      api<{ cells: { team: string | null; phase: string; count: number }[] }>(
        `/api/portfolio/heatmap${qs(filter)}`,
      ),
  });
  const cells = q.data?.cells ?? [];
  const teams = [...new Set(cells.map((c) => c.team))].sort((a, b) => (a ?? '').localeCompare(b ?? ''));
  const max = Math.max(1, ...cells.map((c) => c.count));
  const at = new Map(cells.map((c) => [`${c.team}|${c.phase}`, c.count]));
  return (
    <div className="scroll-x">
      <table className="heatmap">
        <caption>Projects per team and phase</caption>
        <thead>
          <tr>
            <th scope="col">Team</th>
            {meta.data?.phases.map((p) => (
              <th scope="col" key={p.id} title={p.name}>
                {p.name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {teams.map((t) => (
            <tr key={t ?? ''}>
              <th scope="row">
                <Link to="/" search={{ zoom: 'matrix', team: t ?? '' }}>
                  {t ?? '(no team)'}
                </Link>
              </th>
              {meta.data?.phases.map((p) => {
                const n = at.get(`${t}|${p.id}`) ?? 0;
                return (
                  <td
                    key={p.id}
                    style={{ background: n ? `rgba(31, 95, 191, ${0.08 + (0.5 * n) / max})` : undefined }}
                  >
                    {n || ''}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const ROW = 30;

function Matrix({ filter, total }: { filter: Record<string, string | undefined>; total: number }) {
  const meta = useMeta();
  const phases = meta.data?.phases ?? [];
  const q = useInfiniteQuery({
    queryKey: ['portfolio', 'matrix', filter],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<{ rows: MatrixRow[]; next: string | null }>(
        `/api/portfolio/projects${qs({ ...filter, after: pageParam, limit: 200 })}`,
      ),
    getNextPageParam: (last) => last.next,
  });
  const rows = q.data?.pages.flatMap((p) => p.rows) ?? [];
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: Math.max(total, rows.length),
    getScrollElement: () => parent.current,
    estimateSize: () => ROW,
    overscan: 10,
  });
  const items = v.getVirtualItems();
  const lastIndex = items[items.length - 1]?.index ?? 0;
  useEffect(() => {
    if (lastIndex >= rows.length - 20 && q.hasNextPage && !q.isFetchingNextPage) void q.fetchNextPage();
  }, [lastIndex, rows.length, q]);
  const cols = `minmax(14rem, 1fr) repeat(${phases.length}, 4.2rem)`;
  return (
    <div className="matrix" role="table" aria-label="Projects by phase" aria-rowcount={total + 1}>
      <div className="mrow mhead" role="row" style={{ gridTemplateColumns: cols }}>
        <span role="columnheader">Project</span>
        {phases.map((p) => (
          <span role="columnheader" key={p.id} title={p.name}>
            {p.name}
          </span>
        ))}
      </div>
      <div ref={parent} className="mbody" role="rowgroup">
        <div style={{ height: v.getTotalSize(), position: 'relative' }}>
          {items.map((it) => {
            const r = rows[it.index];
            return (
              <div
                key={it.key}
                role="row"
                aria-rowindex={it.index + 2}
                className="mrow"
                style={{
                  gridTemplateColumns: cols,
                  position: 'absolute',
                  top: 0,
                  left: 0,
                  right: 0,
                  height: ROW,
                  transform: `translateY(${it.start}px)`,
                }}
                data-project={r?.id}
              >
                {r ? (
                  <>
                    <span role="cell" className="mname">
                      <Link to="/projects/$id" params={{ id: r.id }}>
                        {r.name}
                      </Link>{' '}
                      <span className="muted">{r.team ?? ''}</span>
                    </span>
                    {phases.map((p) => (
                      <Cell key={p.id} row={r} phase={p.id} />
                    ))}
                  </>
                ) : (
                  <span role="cell" className="muted">
                    …
                  </span>
                )}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}

function Cell({ row, phase }: { row: MatrixRow; phase: string }) {
  if (row.phase === phase) {
    const t = row.ticket ? statusOf('ticket', row.ticket.status) : statusOf('project', row.status);
    return (
      <span
        role="cell"
        className={`mcell cur s-${row.ticket?.status ?? row.status}`}
        title={`${t.word}, ${row.days_in_phase} days in phase`}
        data-current="true"
      >
        <span aria-hidden="true">{t.glyph}</span> {row.days_in_phase}d
        <span className="sr"> {t.word}, days in phase</span>
      </span>
    );
  }
  if (row.looped.includes(phase))
    return (
      <span role="cell" className="mcell s-reworked" title="looped back: sent to rework from here">
        <span aria-hidden="true">↺</span>
        <span className="sr">rework</span>
      </span>
    );
  if (row.done.includes(phase))
    return (
      <span role="cell" className="mcell s-done" title="done">
        <span aria-hidden="true">✓</span>
        <span className="sr">done</span>
      </span>
    );
  return <span role="cell" className="mcell" />;
}
