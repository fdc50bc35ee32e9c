import { useEffect, useSyncExternalStore } from 'react';
import { getToken } from './api.ts';

/** One event as the stream sends it (id = gseq, the store-wide commit order). */
export interface LiveEvent {
  gseq: number;
  project_id: string;
  seq: number;
  ts: string;
  actor: string;
  type: string;
  payload: Record<string, unknown>;
}

type Listener = (events: LiveEvent[]) => void;
const listeners = new Set<Listener>();
const recent: LiveEvent[] = [];
let lastId: number | null = null;
let status: 'connecting' | 'live' | 'offline' = 'connecting';
const statusListeners = new Set<() => void>();
let started = false;

function setStatus(s: typeof status) {
  status = s;
  for (const l of statusListeners) l();
}

/**
 * One server-sent-events connection per tab, read with fetch so it can carry the token. After a
 * drop it reconnects with Last-Event-ID = the last position seen: the server resends exactly what
 * was missed.
 */
export function startLive(): void {
  if (started) return;
  started = true;
  void (async () => {
    for (let attempt = 0; ; attempt++) {
      const token = getToken();
      if (!token) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      try {
        setStatus('connecting');
        const res = await fetch('/api/stream', {
          headers: {
            authorization: `Bearer ${token}`,
            ...(lastId !== null ? { 'last-event-id': String(lastId) } : {}),
          },
        });
        if (!res.ok || !res.body) throw new Error(`stream ${res.status}`);
        setStatus('live');
        attempt = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          const batch: LiveEvent[] = [];
          let at: number;
          while ((at = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, at);
            buf = buf.slice(at + 2);
            let kind = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) kind = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (kind === 'ready' && lastId === null) lastId = JSON.parse(data).after;
            if (kind === 'event') {
              const e = JSON.parse(data) as LiveEvent;
              lastId = e.gseq;
              batch.push(e);
            }
          }
          if (batch.length) {
            recent.push(...batch);
            if (recent.length > 500) recent.splice(0, recent.length - 500);
            for (const l of listeners) l(batch);
          }
        }
      } catch {
        // fall through to a reconnect
      }
      setStatus('offline');
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 10_000)));
    }
  })();
}

/** Call `fn` with each batch of new events while the component is mounted. */
export function useLiveEvents(fn: Listener): void {
  useEffect(() => {
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
    };
  }, [fn]);
}

export function useLiveStatus() {
  return useSyncExternalStore(
    (cb) => {
      statusListeners.add(cb);
      return () => statusListeners.delete(cb);
    },
    () => status,
  );
}

export function recentEvents(): LiveEvent[] {
  return recent;
}
