import pg from 'pg';

/** A LISTEN on one channel over a connection of its own, kept open across server restarts. */
export interface Listener {
  close(): Promise<void>;
}

export interface ListenOptions {
  /** A notification arrived, or the connection was (re)made: something may have changed meanwhile. */
  onNotify: () => void;
  /** The connection came up (true) or went down (false). */
  onState?: (connected: boolean, error?: string) => void;
  /** Reconnect delays grow from this to 30 s. */
  retryMs?: number;
}

/**
 * LISTEN on `channel`. A pooled connection cannot listen (it is handed to other queries), so this
 * holds one client of its own; when the server goes away it reconnects with a growing delay, and
 * wakes the caller on every reconnect, since notifications sent while it was away are lost.
 */
export function listenPg(url: string, channel: string, opts: ListenOptions): Listener {
  let closed = false;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let delay = opts.retryMs ?? 250;
  const retry = (err: unknown) => {
    const c = client;
    client = null;
    c?.removeAllListeners();
    c?.on('error', () => {});
    c?.end().catch(() => {});
    if (closed) return;
    opts.onState?.(false, err instanceof Error ? err.message : String(err));
    timer = setTimeout(connect, delay);
    timer.unref();
    delay = Math.min(delay * 2, 30_000);
  };
  const connect = async () => {
    timer = null;
    if (closed) return;
    const c = new pg.Client({ connectionString: url, application_name: 'vt-listen', keepAlive: true });
    client = c;
    c.on('error', retry);
    c.on('end', () => client === c && retry(new Error('connection ended')));
    c.on('notification', (n) => n.channel === channel && opts.onNotify());
    try {
      await c.connect();
      await c.query(`listen ${pg.Client.prototype.escapeIdentifier(channel)}`);
      if (closed || client !== c) return void c.end().catch(() => {});
      delay = opts.retryMs ?? 250;
      opts.onState?.(true);
      opts.onNotify();
    } catch (err) {
      if (client === c) retry(err);
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = null;
      c?.removeAllListeners();
      c?.on('error', () => {});
      await c?.end().catch(() => {});
    },
  };
}
