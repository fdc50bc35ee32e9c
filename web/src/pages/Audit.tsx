import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, getToken, qs } from '../api.ts';
import { type LiveEvent, recentEvents, useLiveEvents } from '../live.ts';

interface Ev {
  gseq: number;
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  type: string;
  payload: Record<string, unknown>;
  hash?: string;
}
interface Verify {
  ok: boolean;
  checked: number;
  projects: number;
  firstBad?: { project_id: string; seq: number; reason: string };
}
export interface AuditSearch {
  project?: string | undefined;
  type?: string | undefined;
  actor?: string | undefined;
  event?: string | undefined;
}

/** How a decision was signed, as a suffix: its proof's method. */
function signedBy(proof: unknown): string {
  const method = (proof as { method?: string } | undefined)?.method;
  return method === 'webauthn' ? ' 🔑 passkey' : method === 'ssh' ? ' 🔑 ssh-signed' : '';
}

function summary(e: Ev): string {
  const p = e.payload;
  switch (e.type) {
    case 'phase.advanced':
      return `${p.from} → ${p.to} (${p.kind})`;
    case 'gate.evaluated':
      return `${p.phase} ${p.side}: ${p.passed ? '✓ passed' : '✗ failed'}`;
    case 'approval.recorded':
      return `${p.decision} ${p.phase} as ${p.role}${signedBy(p.proof)}`;
    case 'metric.recorded':
      return `${p.name} = ${p.value}`;
    case 'ticket.status':
      return `${p.ticket}: ${p.status}${p.reason ? ` (${p.reason})` : ''}`;
    default:
      return JSON.stringify(p).slice(0, 100);
  }
}

const ROW = 28;

export default function Audit({ search }: { search: AuditSearch }) {
  const navigate = useNavigate();
  const filter = { project: search.project, type: search.type, actor: search.actor };
  const q = useInfiniteQuery({
    queryKey: ['events', filter],
    initialPageParam: null as number | null,
    queryFn: ({ pageParam }) =>
      api<{ events: Ev[]; next: number | null }>(
        `/api/events${qs({ ...filter, before: pageParam, limit: 300 })}`,
      ),
    getNextPageParam: (last) => last.next,
  });
  const rows = q.data?.pages.flatMap((p) => p.events) ?? [];
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW,
    overscan: 15,
  });
  const items = v.getVirtualItems();
  const last = items[items.length - 1]?.index ?? 0;
  useEffect(() => {
    if (last >= rows.length - 30 && q.hasNextPage && !q.isFetchingNextPage) void q.fetchNextPage();
  }, [last, rows.length, q]);
  const set = (patch: Partial<AuditSearch>) => navigate({ to: '/audit', search: { ...search, ...patch } });
  const grid = '5rem 10rem 4rem 11rem 8rem 12rem minmax(16rem, 1fr)';
  return (
    <section aria-labelledby="audit-h">
      <h1 id="audit-h">Audit</h1>
      <form className="filters" aria-label="Event filters" onSubmit={(e) => e.preventDefault()}>
        <FilterInput
          label="Project"
          value={search.project}
          onSet={(project) => set({ project, event: undefined })}
        />
        <FilterInput label="Type" value={search.type} onSet={(type) => set({ type })} />
        <FilterInput label="Actor" value={search.actor} onSet={(actor) => set({ actor })} />
      </form>
      {search.project && search.event && <Permalink project={search.project} seq={search.event} />}
      <Tools project={search.project} />
      <LiveTail />
      <h2>Event log</h2>
      <div className="vtable" role="table" aria-label="Events, newest first" aria-rowcount={rows.length + 1}>
        <div role="row" className="vrow vhead" style={{ gridTemplateColumns: grid }}>
          {['position', 'when', 'seq', 'project', 'actor', 'type', 'what'].map((h) => (
            <span role="columnheader" key={h}>
              {h}
            </span>
          ))}
        </div>
        <div ref={parent} className="vbody tall" role="rowgroup">
          <div style={{ height: v.getTotalSize(), position: 'relative' }}>
            {items.map((it) => {
              const e = rows[it.index]!;
              return (
                <div
                  role="row"
                  key={e.gseq}
                  aria-rowindex={it.index + 2}
                  className="vrow"
                  style={{
                    gridTemplateColumns: grid,
                    position: 'absolute',
                    left: 0,
                    right: 0,
                    height: ROW,
                    transform: `translateY(${it.start}px)`,
                  }}
                >
                  <span role="cell">{e.gseq}</span>
                  <span role="cell">
                    <time dateTime={e.ts}>{e.ts.slice(0, 19).replace('T', ' ')}</time>
                  </span>
                  <span role="cell">
                    <Link
                      to="/audit"
                      search={{ project: e.project_id, event: String(e.seq) }}
                      aria-label={`permalink to ${e.project_id} event ${e.seq}`}
                    >
                      #{e.seq}
                    </Link>
                  </span>
                  <span role="cell">{e.project_id}</span>
                  <span role="cell">{e.actor}</span>
                  <span role="cell">{e.type}</span>
                  <span role="cell" className="ellipsis">
                    {summary(e)}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
}

function FilterInput({
  label,
  value,
  onSet,
}: {
  label: string;
  value: string | undefined;
  onSet: (v: string | undefined) => void;
}) {
  const [text, setText] = useState(value ?? '');
  useEffect(() => setText(value ?? ''), [value]);
  return (
    <label>
      {label}{' '}
      <input
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => onSet(text.trim() || undefined)}
        onKeyDown={(e) => e.key === 'Enter' && onSet(text.trim() || undefined)}
      />
    </label>
  );
}

function Permalink({ project, seq }: { project: string; seq: string }) {
  const q = useQuery({
    queryKey: ['events', 'one', project, seq],
    queryFn: () => api<Ev & { prev_hash: string }>(`/api/events/${project}/${seq}`),
  });
  return (
    <section aria-labelledby="perma-h" className="permalink">
      <h2 id="perma-h">
        Event {project}#{seq}
      </h2>
      {q.isError && <p role="alert">✗ {(q.error as Error).message}</p>}
      {q.data && <pre tabIndex={0}>{JSON.stringify(q.data, null, 2)}</pre>}
    </section>
  );
}

function Tools({ project }: { project: string | undefined }) {
  const [result, setResult] = useState<Verify | null>(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  return (
    <div className="bar">
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setErr(null);
          try {
            setResult(await api<Verify>(`/api/audit/verify${qs({ project })}`));
          } catch (e) {
            setErr((e as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        Verify chains{project ? ` of ${project}` : ''}
      </button>
      <button
        type="button"
        onClick={async () => {
          const res = await fetch(`/api/audit/export${qs({ project })}`, {
            headers: { authorization: `Bearer ${getToken()}` },
          });
          if (!res.ok) return setErr(`export failed: ${res.status}`);
          const url = URL.createObjectURL(await res.blob());
          const a = document.createElement('a');
          a.href = url;
          a.download =
            /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'vt-audit.jsonl';
          a.click();
          URL.revokeObjectURL(url);
        }}
      >
        Export bundle
      </button>
      <span role="status" aria-live="polite" data-testid="verify-result">
        {result &&
          (result.ok ? (
            <span className="badge s-pass">
              <span aria-hidden="true">✓</span> {result.checked} events in {result.projects} chains verify
            </span>
          ) : (
            <span className="badge s-fail">
              <span aria-hidden="true">✗</span> first bad event: {result.firstBad?.project_id}#
              {result.firstBad?.seq} — {result.firstBad?.reason}
            </span>
          ))}
        {err && `✗ ${err}`}
      </span>
    </div>
  );
}

function LiveTail() {
  const [events, setEvents] = useState<LiveEvent[]>(() => recentEvents().slice(-20));
  useLiveEvents(useCallback((batch: LiveEvent[]) => setEvents((old) => [...old, ...batch].slice(-20)), []));
  return (
    <details className="tail" open>
      <summary>Live tail ({events.length})</summary>
      <ol className="plain mono" aria-live="off" tabIndex={0} aria-label="Latest events">
        {[...events].reverse().map((e) => (
          <li key={e.gseq}>
            {e.gseq} {e.ts.slice(11, 19)} {e.project_id}#{e.seq} {e.actor} {e.type}
          </li>
        ))}
      </ol>
    </details>
  );
}
