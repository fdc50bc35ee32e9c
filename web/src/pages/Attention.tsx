import { useInfiniteQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { createColumnHelper, flexRender, getCoreRowModel, useReactTable } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef } from 'react';
import { api, qs } from '../api.ts';
import { Badge } from '../status.tsx';
import { ago } from '../time.ts';

export interface AttentionItem {
  kind: 'blocked' | 'awaiting-approval' | 'awaiting-human' | 'failing';
  ticket: string;
  project: string;
  project_name: string;
  team: string | null;
  phase: string;
  status: string;
  attempts: number;
  since: string;
  reason: string | null;
}

const col = createColumnHelper<AttentionItem>();
const columns = [
  col.accessor('status', {
    header: 'State',
    cell: (c) =>
      c.row.original.kind === 'failing' ? (
        <span className="badge s-fail">
          <span aria-hidden="true">✗</span> failing ({c.row.original.attempts} attempts)
        </span>
      ) : (
        <Badge kind="ticket" status={c.getValue()} />
      ),
  }),
  col.accessor('project_name', {
    header: 'Project',
    cell: (c) => (
      <Link to="/projects/$id" params={{ id: c.row.original.project }}>
        {c.getValue()}
      </Link>
    ),
  }),
  col.accessor('phase', {
    header: 'Phase',
    cell: (c) => (
      <Link to="/projects/$id/gates/$phase" params={{ id: c.row.original.project, phase: c.getValue() }}>
        {c.getValue()}
      </Link>
    ),
  }),
  col.accessor('reason', { header: 'Why', cell: (c) => c.getValue() ?? '' }),
  col.accessor('since', {
    header: 'Since',
    cell: (c) => <time dateTime={c.getValue()}>{ago(c.getValue())}</time>,
  }),
];

const ROW = 34;

export function Attention({ kind }: { kind?: string | undefined }) {
  const navigate = useNavigate();
  const q = useInfiniteQuery({
    queryKey: ['attention', kind],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<{ items: AttentionItem[]; next: string | null }>(
        `/api/attention${qs({ cursor: pageParam, kind, limit: 200 })}`,
      ),
    getNextPageParam: (last) => last.next,
  });
  const data = q.data?.pages.flatMap((p) => p.items) ?? [];
  const table = useReactTable({ data, columns, getCoreRowModel: getCoreRowModel() });
  const rows = table.getRowModel().rows;
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW,
    overscan: 10,
  });
  const items = v.getVirtualItems();
  const last = items[items.length - 1]?.index ?? 0;
  useEffect(() => {
    if (last >= rows.length - 20 && q.hasNextPage && !q.isFetchingNextPage) void q.fetchNextPage();
  }, [last, rows.length, q]);
  const kinds = [
    ['', 'everything'],
    ['blocked', '⛔ blocked'],
    ['awaiting-approval', '⏸ awaiting approval'],
    ['awaiting-human', '✋ awaiting a person'],
    ['failing', '✗ failing'],
  ] as const;
  const grid = '12rem minmax(10rem, 1fr) 10rem minmax(14rem, 2fr) 7rem';
  return (
    <section aria-labelledby="att-h">
      <h1 id="att-h">Attention</h1>
      <p className="muted">What needs someone, oldest first, with the reason.</p>
      <label>
        Show{' '}
        <select
          value={kind ?? ''}
          onChange={(e) => navigate({ to: '/attention', search: { kind: e.target.value || undefined } })}
        >
          {kinds.map(([k, w]) => (
            <option key={k} value={k}>
              {w}
            </option>
          ))}
        </select>
      </label>
      {q.isSuccess && !data.length && <p className="empty">✓ Nothing needs attention.</p>}
      <div
        className="vtable"
        role="table"
        aria-label="Items needing attention"
        aria-rowcount={rows.length + 1}
      >
        {table.getHeaderGroups().map((hg) => (
          <div role="row" className="vrow vhead" key={hg.id} style={{ gridTemplateColumns: grid }}>
            {hg.headers.map((h) => (
              <span role="columnheader" key={h.id}>
                {flexRender(h.column.columnDef.header, h.getContext())}
              </span>
            ))}
          </div>
        ))}
        <div ref={parent} className="vbody" role="rowgroup">
          <div style={{ height: v.getTotalSize(), position: 'relative' }}>
            {items.map((it) => {
              const r = rows[it.index]!;
              return (
                <div
                  role="row"
                  key={r.id}
                  aria-rowindex={it.index + 2}
                  className="vrow"
                  data-ticket={r.original.ticket}
                  style={{
                    gridTemplateColumns: grid,
                    position: 'absolute',
                    left: 0,
                    right: 0,
                    height: ROW,
                    transform: `translateY(${it.start}px)`,
                  }}
                >
                  {r.getVisibleCells().map((c) => (
                    <span role="cell" key={c.id}>
                      {flexRender(c.column.columnDef.cell, c.getContext())}
                    </span>
                  ))}
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
}
