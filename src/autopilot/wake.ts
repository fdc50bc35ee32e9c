import { WORK_CHANNEL } from '../store/migrations/028_worker_wake.ts';
import type { Store } from '../store/store.ts';

/**
 * What an idle worker waits on. A wake-up is a hint only: the worker then asks the store for work
 * (nextClaimable), so a spurious wake-up costs one query and a missed one only delays.
 */
export interface WorkWake {
  /** 'notify' when the store pushes wake-ups (PostgreSQL LISTEN), 'poll' when the worker polls. */
  readonly kind: 'notify' | 'poll';
  /** Resolve at the next wake-up, after `ms`, or when `signal` aborts, whichever comes first. */
  wait(ms: number, signal?: AbortSignal): Promise<'woken' | 'timeout' | 'aborted'>;
  close(): Promise<void>;
}

/** SQLite (or a listen-less store): wait the full time; the loop polls. */
export function pollingWake(): WorkWake {
  return {
    kind: 'poll',
    wait: (ms, signal) =>
      new Promise((resolve) => {
        if (signal?.aborted) return resolve('aborted');
        const onAbort = () => {
          clearTimeout(t);
          resolve('aborted');
        };
        const t = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve('timeout');
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    close: async () => {},
  };
}

/**
 * PostgreSQL: LISTEN on the channel the store's triggers NOTIFY when a ticket may have become
 * claimable (queued, its project freed by a released lease, a control flag changed). A wake-up that
 * arrives while the worker is busy is kept, so the next wait returns at once.
 */
export function notifyWake(store: Store, onState?: (connected: boolean, error?: string) => void): WorkWake {
  if (!store.listen) return pollingWake();
  let pending = false;
  const waiters = new Set<() => void>();
  const listener = store.listen(WORK_CHANNEL, {
    onNotify: () => {
      if (!waiters.size) pending = true;
      for (const w of [...waiters]) w();
    },
    ...(onState ? { onState } : {}),
  });
  return {
    kind: 'notify',
    wait: (ms, signal) =>
      new Promise((resolve) => {
        if (signal?.aborted) return resolve('aborted');
        if (pending) {
          pending = false;
          return resolve('woken');
        }
        const finish = (how: 'woken' | 'timeout' | 'aborted') => {
          clearTimeout(t);
          signal?.removeEventListener('abort', onAbort);
          waiters.delete(woken);
          resolve(how);
        };
        const onAbort = () => finish('aborted');
        const woken = () => finish('woken');
        const t = setTimeout(() => finish('timeout'), ms);
        waiters.add(woken);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    close: () => listener.close(),
  };
}
