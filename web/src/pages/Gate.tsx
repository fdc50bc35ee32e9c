import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { api } from '../api.ts';
import { Badge } from '../status.tsx';

interface Result {
  gate: string;
  kind: string;
  status: string;
  message: string;
  evidence: Record<string, unknown>;
  children?: Result[];
}
interface GateView {
  project: { id: string; name: string; phase: string; visit: number };
  phase: { id: string; name: string };
  evaluations: {
    seq: number;
    gseq: number;
    ts: string;
    actor: string;
    visit: number;
    side: string;
    passed: boolean;
    results: Result[];
  }[];
  waivers: { seq: number; gate: string; actor: string; reason: string; expires_at: string; ts: string }[];
  approvals: {
    seq: number;
    actor: string;
    role: string;
    decision: string;
    reason: string | null;
    visit: number;
    ts: string;
  }[];
  contributors: string[];
}

const rank = (r: Result) => (r.status === 'fail' || r.status === 'error' ? 0 : r.status === 'waived' ? 1 : 2);

/** Observed value against the threshold, in words, from a result's evidence. */
function actual(r: Result): string | null {
  const e = r.evidence;
  if (r.kind === 'metric') {
    const observed = Object.entries((e.observed as Record<string, number>) ?? {}).map(
      ([k, v]) => `${k} = ${v}`,
    );
    const missing = (e.missing as string[]) ?? [];
    return `needs ${e.expr}; observed ${observed.join(', ') || 'nothing'}${missing.length ? `; missing ${missing.join(', ')}` : ''}`;
  }
  if (r.kind === 'approval') return `${(e.approvers as string[])?.length ?? 0} of ${e.needed} from ${e.role}`;
  if (r.kind === 'checklist') return `missing: ${((e.missing as string[]) ?? []).join(', ') || 'none'}`;
  return null;
}

function Results({ results }: { results: Result[] }) {
  return (
    <ul className="plain gates">
      {[...results]
        .sort((a, b) => rank(a) - rank(b))
        .map((r) => (
          <li key={r.gate}>
            <Badge kind="gate" status={r.status} /> <strong>{r.gate}</strong> ({r.kind}): {r.message}
            {actual(r) && <div className="muted">{actual(r)}</div>}
            <details>
              <summary>evidence</summary>
              <pre tabIndex={0}>{JSON.stringify(r.evidence, null, 2)}</pre>
            </details>
            {r.children && <Results results={r.children} />}
          </li>
        ))}
    </ul>
  );
}

export default function Gate({ id, phase }: { id: string; phase: string }) {
  const q = useQuery({
    queryKey: ['project', id, 'gate', phase],
    queryFn: () => api<GateView>(`/api/projects/${id}/gates/${phase}`),
  });
  if (q.isError) return <p role="alert">✗ {(q.error as Error).message}</p>;
  if (!q.data) return <p className="muted">Loading…</p>;
  const g = q.data;
  const last = g.evaluations[g.evaluations.length - 1];
  const failed = last?.results.filter((r) => r.status === 'fail' || r.status === 'error') ?? [];
  return (
    <article aria-labelledby="gate-h">
      <h1 id="gate-h">
        Gates of {g.phase.name} ·{' '}
        <Link to="/projects/$id" params={{ id }}>
          {g.project.name}
        </Link>
      </h1>
      {last ? (
        <p className="verdict">
          <Badge kind="gate" status={last.passed ? 'pass' : 'fail'} />{' '}
          {last.passed
            ? `The ${last.side} gates passed on visit ${last.visit}.`
            : `The ${last.side} gates did not pass on visit ${last.visit}: ${failed.map((r) => r.gate).join(', ')} failed.`}{' '}
          <span className="muted">
            Evaluated by {last.actor}, {new Date(last.ts).toLocaleString()} ({g.evaluations.length} attempts).
          </span>
        </p>
      ) : (
        <p>No evaluation recorded for this phase.</p>
      )}
      {last && <Results results={last.results} />}
      <h2>Attempts</h2>
      <ol className="plain">
        {[...g.evaluations].reverse().map((e) => (
          <li key={e.seq}>
            <Badge kind="gate" status={e.passed ? 'pass' : 'fail'} /> visit {e.visit}, {e.side},{' '}
            {new Date(e.ts).toLocaleString()} by {e.actor} ·{' '}
            <Link to="/audit" search={{ project: id, event: String(e.seq) }}>
              event #{e.seq}
            </Link>
          </li>
        ))}
      </ol>
      <h2>Waivers</h2>
      {g.waivers.length ? (
        <ul className="plain">
          {g.waivers.map((w) => (
            <li key={w.seq}>
              <Badge kind="gate" status="waived" /> {w.gate} by {w.actor} until{' '}
              {new Date(w.expires_at).toLocaleString()}: {w.reason} ·{' '}
              <Link to="/audit" search={{ project: id, event: String(w.seq) }}>
                event #{w.seq}
              </Link>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">None.</p>
      )}
      <h2>Approvals</h2>
      <ul className="plain">
        {g.approvals.map((a) => (
          <li key={a.seq}>
            <Badge kind="gate" status={a.decision === 'approve' ? 'pass' : 'fail'} /> {a.decision} by{' '}
            {a.actor} as {a.role} (visit {a.visit}){a.reason ? `: ${a.reason}` : ''} ·{' '}
            <Link to="/audit" search={{ project: id, event: String(a.seq) }}>
              event #{a.seq}
            </Link>
          </li>
        ))}
      </ul>
      <p className="muted">
        Did work in this phase (may not approve or waive it): {g.contributors.join(', ') || 'nobody yet'}.
      </p>
    </article>
  );
}
