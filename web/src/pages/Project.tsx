import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { useState } from 'react';
import { api, type Me } from '../api.ts';
import { Chart, type ChartData } from '../components/Chart.tsx';
import { decide } from '../decide.ts';
import { Badge, Rework } from '../status.tsx';
import { ago } from '../time.ts';

interface GateResult {
  gate: string;
  kind: string;
  status: string;
  message: string;
  children?: GateResult[];
}
interface Evaluation {
  seq: number;
  ts: string;
  phase: string;
  visit: number;
  side: string;
  passed: boolean;
  results: GateResult[];
}
export interface ProjectView {
  id: string;
  name: string;
  team: string | null;
  priority: string;
  status: string;
  phase: string;
  visit: number;
  created_at: string;
  head: { seq: number; hash: string };
  train: { name: string; hash: string; phases: { id: string; name: string; stage: string; owner: string }[] };
  checklist: { id: string; text: string; required: boolean; ticked: boolean; actor: string | null }[];
  artifacts_now: {
    id: string;
    path: string;
    required: boolean;
    recorded: { sha256: string; size: number } | null;
  }[];
  transitions: {
    n: number;
    seq: number;
    from_phase: string;
    to_phase: string | null;
    kind: string;
    reason: string | null;
    ts: string;
  }[];
  gates: Evaluation[];
  approvals: {
    seq: number;
    phase: string;
    visit: number;
    role: string;
    actor: string;
    decision: string;
    reason: string | null;
    ts: string;
  }[];
  waivers: { seq: number; phase: string; gate: string; actor: string; reason: string; expires_at: string }[];
  sessions: {
    id: string;
    ticket: string;
    phase: string;
    role: string;
    executor: string;
    actor: string;
    started_at: string;
    ended_at: string | null;
    outcome: string | null;
    tokens_in: number | null;
    tokens_out: number | null;
    cost: number | null;
  }[];
  context: { seq: number; kind: string; text: string; phase: string; actor: string; ts: string }[];
  handoffs: {
    seq: number;
    phase: string;
    visit: number;
    path: string;
    sha256: string;
    tokens: number;
    truncated: number;
    ts: string;
  }[];
  artifacts: {
    phase: string;
    artifact: string;
    path: string;
    sha256: string;
    size: number;
    actor: string;
    ts: string;
    seq: number;
  }[];
  metrics: { seq: number; name: string; phase: string; visit: number; value: number; ts: string }[];
  tickets: { id: string; phase: string; status: string; attempts: number; updated_at: string }[];
}

export default function Project({ id }: { id: string }) {
  const q = useQuery({ queryKey: ['project', id], queryFn: () => api<ProjectView>(`/api/projects/${id}`) });
  if (q.isError) return <p role="alert">✗ {(q.error as Error).message}</p>;
  if (!q.data) return <p className="muted">Loading…</p>;
  const p = q.data;
  const latest = new Map<string, Evaluation>();
  for (const g of p.gates) if (g.side === 'exit') latest.set(g.phase, g);
  const current = latest.get(p.phase);
  return (
    <article aria-labelledby="proj-h">
      <h1 id="proj-h">
        {p.name} <Badge kind="project" status={p.status} />
      </h1>
      <p className="muted">
        {p.id} · team {p.team ?? '–'} · priority {p.priority} · train {p.train.name} (
        {p.train.hash.slice(0, 12)}) · phase <strong data-testid="project-phase">{p.phase}</strong> (visit{' '}
        {p.visit})
      </p>
      <Actions p={p} />
      <h2>Timeline</h2>
      <Timeline p={p} />
      <div className="cols">
        <section aria-labelledby="gates-h">
          <h2 id="gates-h">Gate results</h2>
          {current ? (
            <GateList results={current.results} />
          ) : (
            <p className="muted">No gate evaluated in {p.phase} yet.</p>
          )}
          <ul className="plain">
            {[...latest.values()].map((g) => (
              <li key={g.phase}>
                <Link to="/projects/$id/gates/$phase" params={{ id: p.id, phase: g.phase }}>
                  {g.phase}
                </Link>{' '}
                <Badge kind="gate" status={g.passed ? 'pass' : 'fail'} />{' '}
                <span className="muted">{ago(g.ts)}</span>
              </li>
            ))}
          </ul>
        </section>
        <section aria-labelledby="wait-h">
          <h2 id="wait-h">Approvals and waits</h2>
          <ul className="plain">
            {p.tickets
              .filter((t) => ['awaiting-approval', 'awaiting-human', 'blocked'].includes(t.status))
              .map((t) => (
                <li key={t.id}>
                  <Badge kind="ticket" status={t.status} /> {t.id} since{' '}
                  <time dateTime={t.updated_at}>{ago(t.updated_at)}</time>
                </li>
              ))}
            {p.approvals.map((a) => (
              <li key={a.seq}>
                <Badge kind="gate" status={a.decision === 'approve' ? 'pass' : 'fail'} /> {a.decision}{' '}
                {a.phase} (visit {a.visit}) by {a.actor} as {a.role} {a.reason ? `— ${a.reason}` : ''}{' '}
                <Link to="/audit" search={{ project: p.id, event: String(a.seq) }}>
                  event #{a.seq}
                </Link>
              </li>
            ))}
          </ul>
        </section>
      </div>
      <h2>Current phase: checklist and artifacts</h2>
      <ul className="plain">
        {p.checklist.map((c) => (
          <li key={c.id}>
            {c.ticked ? <Badge kind="gate" status="pass" /> : <span className="badge">○ open</span>} {c.text}
            {c.required ? '' : ' (optional)'} {c.actor ? <span className="muted">by {c.actor}</span> : null}
          </li>
        ))}
      </ul>
      <Sessions p={p} />
      <h2>Artifacts</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Phase</th>
            <th scope="col">Artifact</th>
            <th scope="col">Path</th>
            <th scope="col">sha256</th>
            <th scope="col">Bytes</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {p.artifacts.map((a) => (
            <tr key={`${a.phase}/${a.artifact}`}>
              <td>{a.phase}</td>
              <td>{a.artifact}</td>
              <td>
                <code>{a.path}</code>
              </td>
              <td>
                <code title={a.sha256}>{a.sha256.slice(0, 16)}…</code>
              </td>
              <td>{a.size}</td>
              <td>{a.actor}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Context and handoff packets</h2>
      <ul className="plain">
        {p.handoffs.map((h) => (
          <li key={h.seq}>
            📦 handoff to {h.phase} (visit {h.visit}): <code>{h.path}</code> sha256{' '}
            <code>{h.sha256.slice(0, 12)}</code>, {h.tokens} tokens
            {h.truncated ? ' (truncated)' : ''}
          </li>
        ))}
        {p.context.map((c) => (
          <li key={c.seq}>
            <strong>{c.kind}</strong> in {c.phase} by {c.actor}: {c.text}
          </li>
        ))}
      </ul>
      <Metrics p={p} />
    </article>
  );
}

function Actions({ p }: { p: ProjectView }) {
  const qc = useQueryClient();
  const me = useQuery({ queryKey: ['me'], queryFn: () => api<Me>('/api/me') });
  const [msg, setMsg] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const run = async (what: string, fn: () => Promise<unknown>) => {
    try {
      const r = (await fn()) as { outcome?: { outcome: string } } | undefined;
      setMsg(`✓ ${what}${r?.outcome ? `: ${r.outcome.outcome}` : ''}`);
      void qc.invalidateQueries({ queryKey: ['project', p.id] });
    } catch (err) {
      setMsg(`✗ ${(err as Error).message}`);
    }
  };
  const pk = !!me.data && (me.data.passkeys.length > 0 || me.data.passkey_policy === 'required');
  return (
    <div className="actions-bar">
      <button
        type="button"
        onClick={() => run('advance', () => api(`/api/projects/${p.id}/advance`, { method: 'POST' }))}
      >
        Advance
      </button>
      <button
        type="button"
        onClick={() => run('approved', () => decide({ project: p.id, decision: 'approve' }, pk))}
      >
        Approve {p.phase}
      </button>
      <label>
        Reason <input value={reason} onChange={(e) => setReason(e.target.value)} />
      </label>
      <button
        type="button"
        disabled={!reason.trim()}
        onClick={() => run('rejected', () => decide({ project: p.id, decision: 'reject', reason }, pk))}
      >
        Reject
      </button>
      <span role="status" aria-live="polite">
        {msg}
      </span>
    </div>
  );
}

export function GateList({ results }: { results: GateResult[] }) {
  // Failures first: what blocks the project is what a person looks for.
  const order = (r: GateResult) =>
    r.status === 'fail' || r.status === 'error' ? 0 : r.status === 'waived' ? 1 : 2;
  return (
    <ul className="plain gates">
      {[...results]
        .sort((a, b) => order(a) - order(b))
        .map((r) => (
          <li key={r.gate}>
            <Badge kind="gate" status={r.status} /> <strong>{r.gate}</strong>{' '}
            <span className="muted">({r.kind})</span>: {r.message}
            {r.children?.length ? <GateList results={r.children} /> : null}
          </li>
        ))}
    </ul>
  );
}

/** One lane per phase, a bar per visit, and a back-arrow for each rework. */
function Timeline({ p }: { p: ProjectView }) {
  const phases = p.train.phases;
  const lane = new Map(phases.map((ph, i) => [ph.id, i]));
  const end =
    p.status === 'completed' && p.transitions.length
      ? Date.parse(p.transitions[p.transitions.length - 1]!.ts)
      : Date.now();
  const t0 = Date.parse(p.created_at);
  const visits: { phase: string; from: number; to: number }[] = [];
  let at = { phase: phases[0]?.id ?? p.phase, from: t0 };
  for (const t of p.transitions) {
    visits.push({ phase: t.from_phase, from: at.from, to: Date.parse(t.ts) });
    if (t.to_phase) at = { phase: t.to_phase, from: Date.parse(t.ts) };
  }
  if (p.status !== 'completed') visits.push({ phase: at.phase, from: at.from, to: end });
  const W = 900;
  const L = 170;
  const H = 18;
  const span = Math.max(end - t0, 1);
  const x = (t: number) => L + ((t - t0) / span) * (W - L - 10);
  const y = (ph: string) => (lane.get(ph) ?? 0) * H + 4;
  return (
    <div className="scroll-x">
      <svg
        width={W}
        height={phases.length * H + 10}
        role="img"
        aria-label={`Timeline of ${p.name}: ${visits.length} phase visits, ${p.transitions.filter((t) => t.kind === 'rework').length} reworks`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="6"
            markerHeight="6"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#a33" />
          </marker>
        </defs>
        {phases.map((ph, i) => (
          <g key={ph.id}>
            <text x={4} y={i * H + 16} fontSize="12" fill="#333">
              {i + 1}. {ph.name}
            </text>
            <line x1={L} x2={W} y1={i * H + H + 3} y2={i * H + H + 3} stroke="#eee" />
          </g>
        ))}
        {visits.map((v, i) => (
          <rect
            key={`${v.phase}-${v.from}`}
            x={x(v.from)}
            y={y(v.phase)}
            width={Math.max(x(v.to) - x(v.from), 3)}
            height={H - 6}
            rx={3}
            fill={v.phase === p.phase && i === visits.length - 1 ? '#1f5fbf' : '#5b8c5a'}
          >
            <title>
              {v.phase}: {new Date(v.from).toISOString()} – {new Date(v.to).toISOString()}
            </title>
          </rect>
        ))}
        {p.transitions
          .filter((t) => t.kind === 'rework' && t.to_phase)
          .map((t) => {
            const tx = x(Date.parse(t.ts));
            return (
              <path
                key={t.n}
                d={`M ${tx} ${y(t.from_phase) + 6} C ${tx - 30} ${y(t.from_phase)}, ${tx - 30} ${y(t.to_phase!) + 12}, ${tx} ${y(t.to_phase!) + 6}`}
                fill="none"
                stroke="#a33"
                strokeWidth="1.5"
                markerEnd="url(#arrow)"
              >
                <title>
                  rework: {t.from_phase} → {t.to_phase} ({t.reason ?? ''})
                </title>
              </path>
            );
          })}
      </svg>
      {p.transitions.some((t) => t.kind === 'rework') && (
        <p>
          <Rework />{' '}
          {p.transitions
            .filter((t) => t.kind === 'rework')
            .map((t) => `${t.from_phase} → ${t.to_phase}`)
            .join(', ')}
        </p>
      )}
    </div>
  );
}

function Sessions({ p }: { p: ProjectView }) {
  const total = p.sessions.reduce((s, x) => s + (x.cost ?? 0), 0);
  return (
    <>
      <h2>Sessions</h2>
      <p className="muted">
        {p.sessions.length} sessions, cost ${total.toFixed(2)}
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Phase</th>
            <th scope="col">Role</th>
            <th scope="col">Agent</th>
            <th scope="col">Outcome</th>
            <th scope="col">Tokens in/out</th>
            <th scope="col">Cost</th>
          </tr>
        </thead>
        <tbody>
          {p.sessions.map((s) => (
            <tr key={s.id}>
              <td>{s.id}</td>
              <td>{s.phase}</td>
              <td>{s.role}</td>
              <td>
                {s.executor} <span className="muted">({s.actor})</span>
              </td>
              <td>{s.outcome ?? (s.ended_at ? '' : '● running')}</td>
              <td>
                {s.tokens_in ?? '–'} / {s.tokens_out ?? '–'}
              </td>
              <td>{s.cost != null ? `$${s.cost.toFixed(4)}` : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Metrics({ p }: { p: ProjectView }) {
  const names = [...new Set(p.metrics.map((m) => m.name))];
  if (!names.length) return null;
  return (
    <>
      <h2>Metric history</h2>
      {names.map((n) => {
        const rows = p.metrics.filter((m) => m.name === n);
        const data: ChartData = {
          title: `${n} over time`,
          columns: ['time', 'phase', 'visit', n],
          rows: rows.map((m) => [m.ts, m.phase, m.visit, m.value]),
          option: {
            xAxis: { type: 'time' },
            yAxis: { type: 'value', scale: true },
            series: [{ type: 'line', name: n, data: rows.map((m) => [m.ts, m.value]) }],
          },
        };
        return <Chart key={n} data={data} height={200} />;
      })}
    </>
  );
}
