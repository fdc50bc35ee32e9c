import { redact, stripControl } from '../../redact.ts';
import type { Db } from '../../store/store.ts';
import { type Endpoint, origin } from '../config.ts';
import {
  type AttemptRecord,
  dueRows,
  GAVE_UP_AT,
  markDelivered,
  type OutboxRow,
  recordAttempt,
  retryLater,
  type StoreRunner,
  spentThrough,
  takeRow,
  trainByHash,
} from '../outbox-store.ts';
import { type MessageFacts, renderMessage } from './message.ts';
import { WEBHOOK_KIND, type WebhookPayload } from './notification.ts';
import { signedHeaders } from './sign.ts';

/*
 * Sends due webhook rows: renders the message, signs it (Standard Webhooks), POSTs it with a timeout,
 * and on failure schedules the next attempt with backoff, giving up after MAX_ATTEMPTS. It runs outside
 * every engine transaction: a slow or dead receiver delays only its own rows.
 */

/** Waits after the n-th failed attempt: seconds, then minutes, then hours (about 40 hours in all). */
export const BACKOFF_S = [5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 43_200, 43_200];
export const MAX_ATTEMPTS = BACKOFF_S.length + 1;
/** How long a row being sent is hidden from other deliverers; a crash mid-send retries after it. */
const SENDING_MS = 60_000;

export function webhookBackoffMs(attempts: number): number {
  return BACKOFF_S[Math.min(Math.max(attempts, 1), BACKOFF_S.length) - 1]! * 1000;
}

export interface DeliveryOptions {
  store: StoreRunner;
  endpoints: readonly Endpoint[];
  now: Date;
  /** Rows looked at per endpoint and call. */
  batch?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  timeoutMs?: number;
  /** When to try again after the n-th failure (default: BACKOFF_S). */
  backoffMs?: (attempts: number) => number;
  fetch?: typeof fetch;
  onLog?: (line: string) => void;
}

export interface DeliveryResult {
  delivered: number;
  failed: number;
  gaveUp: number;
  skipped: number;
}

/**
 * Send what is due for every configured endpoint, endpoints side by side. Within one endpoint, the
 * first row goes alone, then up to `concurrency` rows are in flight; once an attempt finds it down (no connection, a timeout,
 * 5xx, 408 or 429, or its URL or secret missing), no further row of it is tried in this run: a dead
 * receiver costs one attempt per run, not one per pending row.
 */
export async function deliverWebhooks(opts: DeliveryOptions): Promise<DeliveryResult> {
  const result: DeliveryResult = { delivered: 0, failed: 0, gaveUp: 0, skipped: 0 };
  const nowIso = opts.now.toISOString();
  const width = Math.max(1, opts.concurrency ?? 4);
  await Promise.all(
    opts.endpoints.map(async (ep) => {
      const rows = await opts.store.transaction((trx) =>
        dueRows(trx, {
          kind: WEBHOOK_KIND,
          prefix: `{"endpoint":${JSON.stringify(ep.id)},`,
          now: nowIso,
          limit: opts.batch ?? 50,
        }),
      );
      let next = 0;
      // The first row alone: a dead endpoint is found with one attempt, before lanes open.
      let down = rows.length > 0 && (await deliverOne(opts, ep, rows[next++]!, result)) === 'down';
      await Promise.all(
        Array.from({ length: Math.min(width, rows.length) }, async () => {
          while (!down && next < rows.length)
            if ((await deliverOne(opts, ep, rows[next++]!, result)) === 'down') down = true;
        }),
      );
    }),
  );
  return result;
}

const clip = (s: string, n = 500) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** The row's new state and the attempt's log line, written together (one commit, one fsync). */
async function settle(
  store: StoreRunner,
  outcome: AttemptRecord,
  row:
    | { id: string; delivered: { at: string; attempts: number; note: string | null } }
    | { id: string; retry: { next_at: string; attempts: number; last_error: string } },
): Promise<void> {
  await store.transaction(async (trx) => {
    if ('delivered' in row)
      await markDelivered(trx, row.id, row.delivered.at, row.delivered.attempts, row.delivered.note);
    else await retryLater(trx, row.id, row.retry);
    await recordAttempt(trx, outcome);
  });
}

/** One attempt; 'down' when the failure is the endpoint's, not the row's. */
async function deliverOne(
  opts: DeliveryOptions,
  ep: Endpoint,
  row: OutboxRow,
  result: DeliveryResult,
): Promise<'ok' | 'failed' | 'down'> {
  const { store, now } = opts;
  const nowIso = now.toISOString();
  const until = new Date(now.getTime() + SENDING_MS).toISOString();
  if (!(await store.transaction((trx) => takeRow(trx, row, until)))) return 'ok'; // another deliverer has it
  const attempt = row.attempts + 1;
  const started = performance.now();
  const record = (
    outcome: AttemptRecord['outcome'],
    status: number | null,
    error: string | null,
  ): AttemptRecord => ({
    outbox_id: row.id,
    attempt,
    endpoint: ep.id,
    at: nowIso,
    outcome,
    http_status: status,
    duration_ms: Math.round(performance.now() - started),
    error,
  });
  let url = '';
  try {
    const p = JSON.parse(row.payload) as WebhookPayload;
    const facts = await store.transaction((trx) => factsFor(trx, p));
    if (facts === 'skip') {
      await settle(store, record('skipped', null, null), {
        id: row.id,
        delivered: {
          at: nowIso,
          attempts: row.attempts,
          note: 'skipped: the budget line was not crossed here',
        },
      });
      result.skipped++;
      return 'ok';
    }
    const body = JSON.stringify(
      renderMessage(p.notification, { id: row.id, createdAt: row.created_at }, facts),
    );
    url = ep.url();
    const headers = signedHeaders(ep.secret(), row.id, now, body);
    const res = await (opts.fetch ?? fetch)(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) {
      await settle(store, record('delivered', res.status, null), {
        id: row.id,
        delivered: { at: nowIso, attempts: attempt, note: null },
      });
      result.delivered++;
      return 'ok';
    }
    await failed(opts, ep, row, attempt, `the receiver answered ${res.status}`, res.status, record, result);
    return res.status >= 500 || res.status === 408 || res.status === 429 ? 'down' : 'failed';
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    let why =
      e.name === 'TimeoutError' || e.name === 'AbortError'
        ? `no answer within ${opts.timeoutMs ?? 10_000} ms`
        : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : e.cause?.message ? ` (${e.cause.message})` : ''}`;
    if (url) why = why.split(url).join(origin(url)); // a URL may carry a token: show only its origin
    await failed(opts, ep, row, attempt, why, null, record, result);
    return 'down';
  }
}

async function failed(
  opts: DeliveryOptions,
  ep: Endpoint,
  row: OutboxRow,
  attempt: number,
  why: string,
  status: number | null,
  record: (o: 'failed' | 'gave-up', s: number | null, e: string | null) => AttemptRecord,
  result: DeliveryResult,
) {
  const reason = clip(redact(stripControl(why)));
  if (attempt >= MAX_ATTEMPTS) {
    await settle(opts.store, record('gave-up', status, reason), {
      id: row.id,
      retry: {
        next_at: GAVE_UP_AT,
        attempts: attempt,
        last_error: `gave up after ${attempt} attempts: ${reason}`,
      },
    });
    opts.onLog?.(`webhook ${ep.id}: gave up on ${row.id} after ${attempt} attempts: ${reason}`);
    result.gaveUp++;
    return;
  }
  const wait = (opts.backoffMs ?? webhookBackoffMs)(attempt);
  await settle(opts.store, record('failed', status, reason), {
    id: row.id,
    retry: {
      next_at: new Date(opts.now.getTime() + wait).toISOString(),
      attempts: attempt,
      last_error: reason,
    },
  });
  result.failed++;
}

/** Names and sums a message needs that its event did not carry; 'skip' when there is nothing to say. */
async function factsFor(db: Db, p: WebhookPayload): Promise<MessageFacts | 'skip'> {
  const n = p.notification;
  if (n.type === 'approval-needed') {
    const train = await trainByHash(db, n.train_hash);
    const approvers: Record<string, string[]> = {};
    for (const g of n.gates)
      approvers[g.gate] = Object.entries(train?.people ?? {})
        .filter(([who, roles]) => roles.includes(g.role) && !n.contributors.includes(who))
        .map(([who]) => who)
        .sort();
    return { approvers };
  }
  if (n.type === 'budget-nearly-spent') {
    const spent = await spentThrough(db, n.project, n.session);
    const line = n.warn_at * n.budget;
    if (!spent || !(spent.before < line && spent.after >= line)) return 'skip';
    return { spent };
  }
  return {};
}
