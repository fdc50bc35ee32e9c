import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate } from '@tanstack/react-router';
import { useCallback, useRef, useState } from 'react';
import { api, type Me, qs } from '../api.ts';
import { decide, registerPasskey } from '../decide.ts';
import { type LiveEvent, useLiveEvents } from '../live.ts';
import { Badge } from '../status.tsx';
import { ago } from '../time.ts';
import type { AttentionItem } from './Attention.tsx';

interface Waiver {
  project: string;
  project_name: string;
  phase: string;
  gate: string;
  actor: string;
  reason: string;
  expires_at: string;
}

const ACTIONS: Record<string, { key: string; label: string }[]> = {
  'awaiting-approval': [
    { key: 'a', label: 'Approve' },
    { key: 'r', label: 'Reject' },
  ],
  'awaiting-human': [{ key: 'd', label: 'Mark done' }],
  blocked: [{ key: 't', label: 'Retry' }],
};

/** Does this event settle the inbox item (the ticket moved on, or its phase was decided)? */
function resolves(e: LiveEvent, item: AttentionItem): boolean {
  if (e.project_id !== item.project) return false;
  const p = e.payload as { ticket?: string; status?: string; phase?: string };
  if ((e.type === 'ticket.status' || e.type === 'ticket.finished') && p.ticket === item.ticket)
    return p.status !== item.status;
  if (e.type === 'phase.advanced' || e.type === 'project.completed') return true;
  return false;
}

export function Inbox() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const me = useQuery({ queryKey: ['me'], queryFn: () => api<Me>('/api/me') });
  // The list is a snapshot: live events grey items out instead of moving the list under the cursor.
  const q = useInfiniteQuery({
    queryKey: ['inbox'],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      api<{ items: AttentionItem[]; next: string | null; waivers: Waiver[] }>(
        `/api/inbox${qs({ cursor: pageParam, limit: 100 })}`,
      ),
    getNextPageParam: (last) => last.next,
    staleTime: Number.POSITIVE_INFINITY,
  });
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  const waivers = q.data?.pages[0]?.waivers ?? [];
  const [resolved, setResolved] = useState<Record<string, string>>({});
  const [focus, setFocus] = useState(0);
  const [rejecting, setRejecting] = useState<string | null>(null);
  const [comment, setComment] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const refs = useRef<(HTMLLIElement | null)[]>([]);
  const itemsRef = useRef(items);
  itemsRef.current = items;

  useLiveEvents(
    useCallback((events: LiveEvent[]) => {
      const done: Record<string, string> = {};
      for (const it of itemsRef.current)
        for (const e of events) if (resolves(e, it)) done[it.ticket] = `resolved: ${e.type} by ${e.actor}`;
      if (Object.keys(done).length) setResolved((r) => ({ ...done, ...r }));
    }, []),
  );

  const withPasskey = !!me.data && (me.data.passkeys.length > 0 || me.data.passkey_policy === 'required');

  const act = async (it: AttentionItem, key: string, reason?: string) => {
    setMessage(null);
    try {
      if (key === 'a') await decide({ project: it.project, decision: 'approve' }, withPasskey);
      else if (key === 'r') await decide({ project: it.project, decision: 'reject', reason }, withPasskey);
      else if (key === 'd') await api(`/api/tickets/${it.ticket}/done`, { method: 'POST' });
      else if (key === 't') await api(`/api/tickets/${it.ticket}/retry`, { method: 'POST' });
      const word = { a: 'approved', r: 'rejected', d: 'marked done', t: 'retried' }[key];
      setResolved((r) => ({ ...r, [it.ticket]: `${word} by you` }));
      setMessage(`✓ ${it.project_name}: ${word}`);
    } catch (err) {
      setMessage(`✗ ${(err as Error).message}`);
    }
  };

  const onKey = (e: React.KeyboardEvent, i: number) => {
    if (rejecting) return;
    const it = items[i]!;
    const move = (to: number) => {
      const n = Math.max(0, Math.min(items.length - 1, to));
      setFocus(n);
      refs.current[n]?.focus();
    };
    if (e.key === 'ArrowDown' || e.key === 'j') move(i + 1);
    else if (e.key === 'ArrowUp' || e.key === 'k') move(i - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(items.length - 1);
    else if (e.key === 'Enter') void navigate({ to: '/projects/$id', params: { id: it.project } });
    else if (!resolved[it.ticket] && ACTIONS[it.status]?.some((a) => a.key === e.key)) {
      e.preventDefault();
      if (e.key === 'r') {
        setRejecting(it.ticket);
        setComment('');
      } else void act(it, e.key);
    } else return;
    e.preventDefault();
  };

  return (
    <section aria-labelledby="inbox-h">
      <h1 id="inbox-h">Inbox</h1>
      <p className="muted" id="inbox-keys">
        Keys: ↑/↓ or j/k move, <kbd>a</kbd> approve, <kbd>r</kbd> reject (with a comment), <kbd>d</kbd> done,{' '}
        <kbd>t</kbd> retry, <kbd>Enter</kbd> opens the project.
      </p>
      <PasskeyPanel me={me.data} onChange={() => void qc.invalidateQueries({ queryKey: ['me'] })} />
      <p role="status" aria-live="polite" className="message">
        {message}
      </p>
      <div className="bar">
        <button
          type="button"
          onClick={() => {
            setResolved({});
            void q.refetch();
          }}
        >
          Refresh
        </button>
      </div>
      {q.isSuccess && !items.length && <p className="empty">✓ Nothing waits for you.</p>}
      <ul className="inbox" aria-label="Waiting for a person" aria-describedby="inbox-keys">
        {items.map((it, i) => {
          const gone = resolved[it.ticket];
          return (
            <li
              key={it.ticket}
              ref={(el) => {
                refs.current[i] = el;
              }}
              tabIndex={i === focus ? 0 : -1}
              className={gone ? 'resolved' : ''}
              aria-disabled={gone ? true : undefined}
              data-ticket={it.ticket}
              onKeyDown={(e) => onKey(e, i)}
              onFocus={() => setFocus(i)}
            >
              <Badge kind="ticket" status={it.status} />{' '}
              <Link to="/projects/$id" params={{ id: it.project }} tabIndex={-1}>
                {it.project_name}
              </Link>{' '}
              <span className="muted">
                {it.phase} · {it.reason ?? ''} · <time dateTime={it.since}>{ago(it.since)}</time>
              </span>
              {gone ? (
                <span className="gone"> — {gone}</span>
              ) : (
                <span className="actions">
                  {ACTIONS[it.status]?.map((a) => (
                    <button
                      type="button"
                      key={a.key}
                      tabIndex={-1}
                      onClick={() => {
                        if (a.key === 'r') {
                          setRejecting(it.ticket);
                          setComment('');
                        } else void act(it, a.key);
                      }}
                    >
                      {a.label} <kbd>{a.key}</kbd>
                    </button>
                  ))}
                </span>
              )}
              {rejecting === it.ticket && (
                <form
                  className="reject"
                  onSubmit={(e) => {
                    e.preventDefault();
                    if (!comment.trim()) return;
                    setRejecting(null);
                    void act(it, 'r', comment).then(() => refs.current[i]?.focus());
                  }}
                >
                  <label htmlFor={`why-${it.ticket}`}>Why reject? (required)</label>
                  <input
                    id={`why-${it.ticket}`}
                    ref={(el) => el?.focus()}
                    required
                    value={comment}
                    onChange={(e) => setComment(e.target.value)}
                    onKeyDown={(e) => {
                      if (e.key === 'Escape') {
                        setRejecting(null);
                        refs.current[i]?.focus();
                      }
                    }}
                  />
                  <button type="submit" disabled={!comment.trim()}>
                    Reject
                  </button>
                </form>
              )}
            </li>
          );
        })}
      </ul>
      {q.hasNextPage && (
        <button type="button" onClick={() => void q.fetchNextPage()}>
          More
        </button>
      )}
      <h2>Waivers expiring within 7 days</h2>
      {waivers.length ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Project</th>
              <th scope="col">Gate</th>
              <th scope="col">Expires</th>
              <th scope="col">By</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {waivers.map((w) => (
              <tr key={`${w.project}/${w.phase}/${w.gate}`}>
                <td>
                  <Link to="/projects/$id" params={{ id: w.project }}>
                    {w.project_name}
                  </Link>
                </td>
                <td>
                  <span className="badge s-waived">
                    <span aria-hidden="true">~</span> waived
                  </span>{' '}
                  {w.phase}/{w.gate}
                </td>
                <td>
                  <time dateTime={w.expires_at}>{new Date(w.expires_at).toLocaleString()}</time>
                </td>
                <td>{w.actor}</td>
                <td>{w.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">None.</p>
      )}
    </section>
  );
}

function PasskeyPanel({ me, onChange }: { me: Me | undefined; onChange: () => void }) {
  const [msg, setMsg] = useState<string | null>(null);
  if (!me) return null;
  const ipHost = /^[\d.]+$|^\[/.test(location.hostname);
  return (
    <div className="passkeys">
      {me.passkeys.length ? (
        <span>
          🔑 Your decisions here are confirmed with your passkey ({me.passkeys.length} registered).
          {me.passkeys.some((p) => !p.bound) && (
            <>
              {' '}
              A passkey signs once you bind it with your SSH key: run <code>vt keys passkey bind</code> in
              your shell.
            </>
          )}
        </span>
      ) : (
        <span>
          {me.passkey_policy === 'required' ? 'This server requires a passkey for every decision. ' : ''}
          {ipHost ? (
            <>
              Passkeys work on a host name: open{' '}
              <a href={location.href.replace(location.hostname, 'localhost')}>localhost</a>.
            </>
          ) : (
            <button
              type="button"
              onClick={async () => {
                try {
                  await registerPasskey(`${me.person}'s passkey`);
                  setMsg('✓ passkey registered');
                  onChange();
                } catch (err) {
                  setMsg(`✗ ${(err as Error).message}`);
                }
              }}
            >
              Register a passkey
            </button>
          )}
        </span>
      )}
      {msg && <span role="status"> {msg}</span>}
    </div>
  );
}
