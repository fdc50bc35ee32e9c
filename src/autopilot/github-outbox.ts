import { sql } from 'kysely';
import type { OutboxRule } from '../engine/engine.ts';
import { stripControl } from '../redact.ts';
import type { Db } from '../store/store.ts';
import { classifyFailure, type GithubApi, parseRepo, scrub } from './github-client.ts';

/*
 * GitHub side effects through the outbox: a rule turns events about GitHub issues into entries (in the
 * event's transaction), and deliverGithubOutbox sends the due ones, retrying with backoff.
 */

export const GITHUB_KINDS = ['github.assign', 'github.comment', 'github.close'] as const;
export type GithubKind = (typeof GITHUB_KINDS)[number];

/** An entry given up on keeps delivered_at NULL and waits here, out of every due query. */
export const GAVE_UP_AT = '9999-12-31T23:59:59.999Z';
/** A refused call (4xx other than a rate limit) is tried this many times. */
export const MAX_REJECTIONS = 3;
/** How long an entry being sent is hidden from other deliverers (a crash mid-send retries after it). */
const SENDING_MS = 60_000;
/** Pending entries looked at per delivery, oldest first. */
const WINDOW = 200;

export interface GithubPayload {
  repo: string;
  number: number;
  ticket: string | null;
  body?: string;
}

/** Backoff after the n-th failed attempt: 1 s, 2 s, 4 s... capped at five minutes. */
export function deliveryBackoffMs(attempts: number): number {
  return Math.min(1000 * 2 ** Math.max(attempts - 1, 0), 300_000);
}

/** A reason, bounded so the text around it always fits. */
const clip = (text: string) => (text.length > 1000 ? `${text.slice(0, 999)}…` : text);

/** Plain text from event data: no control characters or secrets, @mentions defused, bounded. */
function plain(text: string, secrets: readonly string[], max = 1000): string {
  return scrub(stripControl(text), secrets, max).replace(/@(?=[A-Za-z0-9])/g, '@\u200b');
}

/**
 * The outbox rule for one repository: claims self-assign and comment, finished and blocked tickets
 * comment, a closed issue comments and closes. Ids are `${project}:${seq, 10 digits}:${kind}`: unique
 * per event and kind, and in event order when sorted.
 */
export function githubOutboxRule(opts: { repo: string; secrets?: readonly string[] }): OutboxRule {
  const repo = parseRepo(opts.repo).full;
  const secrets = opts.secrets ?? [];
  return (s, e) => {
    if (!s) return [];
    const entries = (
      issueId: string | undefined,
      ticket: string | null,
      effects: [GithubKind, string?][],
    ) => {
      const ext = issueId ? s.issues[issueId]?.external : null;
      if (!ext || ext.repo.toLowerCase() !== repo) return [];
      const seq = String(e.seq).padStart(10, '0');
      return effects.map(([kind, body]) => {
        const payload: GithubPayload = { repo, number: ext.number, ticket };
        if (body !== undefined) payload.body = plain(body, secrets, 2000);
        return { id: `${e.project_id}:${seq}:${kind}`, kind, payload: { ...payload } };
      });
    };
    const ticketOf = (id: string) => s.tickets[id];
    switch (e.type) {
      case 'ticket.claimed': {
        const t = ticketOf(e.payload.ticket);
        if (!t) return [];
        const attempt = t.attempts > 0 ? `, attempt ${t.attempts + 1}` : '';
        return entries(t.issue, t.id, [
          ['github.assign'],
          ['github.comment', `Value Train picked up ${t.id} (phase ${t.phase}${attempt}).`],
        ]);
      }
      case 'ticket.finished': {
        const t = ticketOf(e.payload.ticket);
        if (!t) return [];
        const why = e.payload.reason ? `\n\nReason: ${clip(e.payload.reason)}` : '';
        return entries(t.issue, t.id, [
          ['github.comment', `Value Train finished ${t.id} (phase ${t.phase}): ${e.payload.outcome}.${why}`],
        ]);
      }
      case 'ticket.status': {
        if (e.payload.status !== 'blocked') return [];
        const t = ticketOf(e.payload.ticket);
        if (!t) return [];
        const n = e.payload.attempts;
        return entries(t.issue, t.id, [
          [
            'github.comment',
            `Value Train blocked ${t.id} (phase ${t.phase}) after ${n} failed attempt${n === 1 ? '' : 's'}.\n\n` +
              `Reason: ${clip(e.payload.reason ?? 'not given')}\n\n` +
              `When it can go on, run \`vt retry ${t.id}\`.`,
          ],
        ]);
      }
      case 'issue.closed':
        return entries(e.payload.issue, null, [
          ['github.comment', `Value Train closed this issue: ${clip(e.payload.reason)}.`],
          ['github.close'],
        ]);
      default:
        return [];
    }
  };
}

export interface DeliveryResult {
  delivered: number;
  /** Set when GitHub said to wait: nothing more should be sent before then. */
  rateLimitedUntil: Date | null;
}

/**
 * Send due entries for `api.repo`, oldest first, at most `batch` calls. Each entry is first marked as
 * being sent (a compare-and-set on next_at, so two deliverers never send the same entry), then marked
 * delivered in its own write. Entries of one issue go out in order: while an earlier one waits, the
 * later ones wait too. Stops at the first rate-limit reply or a 401 (a bad token fails every call).
 */
export async function deliverGithubOutbox(ctx: {
  db: Db;
  api: GithubApi;
  now: Date;
  batch: number;
  secrets: readonly string[];
  onLog?: ((line: string) => void) | undefined;
}): Promise<DeliveryResult> {
  const { db, api, now } = ctx;
  const nowIso = now.toISOString();
  const escaped = `{"repo":${JSON.stringify(api.repo)},`.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = await db
    .selectFrom('outbox')
    .select(['id', 'kind', 'payload', 'attempts', 'next_at'])
    .where('kind', 'in', [...GITHUB_KINDS])
    .where('delivered_at', 'is', null)
    .where('next_at', '<', GAVE_UP_AT)
    .where(sql<boolean>`payload LIKE ${`${escaped}%`} ESCAPE '\\'`)
    .orderBy('created_at')
    .orderBy('id')
    .limit(WINDOW)
    .execute();
  const waiting = new Set<number>(); // issues with an earlier entry still pending
  let delivered = 0;
  let sent = 0;
  for (const row of rows) {
    if (sent >= ctx.batch) break;
    let p: GithubPayload;
    try {
      p = JSON.parse(row.payload) as GithubPayload;
    } catch {
      await settle(db, row.id, {
        next_at: GAVE_UP_AT,
        attempts: row.attempts,
        last_error: 'unreadable payload',
      });
      continue;
    }
    if (p.repo !== api.repo || waiting.has(p.number)) continue;
    if (row.next_at > nowIso) {
      waiting.add(p.number);
      continue;
    }
    const taken = await db
      .updateTable('outbox')
      .set({ next_at: new Date(now.getTime() + SENDING_MS).toISOString() })
      .where('id', '=', row.id)
      .where('next_at', '=', row.next_at)
      .where('delivered_at', 'is', null)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) {
      waiting.add(p.number);
      continue;
    }
    sent++;
    try {
      await send(api, row.kind as GithubKind, p);
      await db
        .updateTable('outbox')
        .set({ delivered_at: nowIso, attempts: row.attempts + 1, last_error: null })
        .where('id', '=', row.id)
        .execute();
      delivered++;
    } catch (err) {
      const f = classifyFailure(err, now, ctx.secrets);
      const attempts = row.attempts + 1;
      if (f.kind === 'rate-limited') {
        const until = f.until.toISOString();
        await settle(db, row.id, {
          next_at: until,
          attempts,
          last_error: `rate limited until ${until}: ${f.message}`,
        });
        ctx.onLog?.(`github: rate limited until ${until}`);
        return { delivered, rateLimitedUntil: f.until };
      }
      if (f.kind === 'rejected' && attempts >= MAX_REJECTIONS) {
        const last = `gave up after ${attempts} attempts: ${f.message}`;
        await settle(db, row.id, { next_at: GAVE_UP_AT, attempts, last_error: last });
        ctx.onLog?.(`github: ${row.kind} for ${api.repo}#${p.number} ${last}`);
      } else {
        const next = new Date(now.getTime() + deliveryBackoffMs(attempts)).toISOString();
        await settle(db, row.id, { next_at: next, attempts, last_error: f.message });
        waiting.add(p.number);
      }
      if (f.kind === 'rejected' && f.status === 401) {
        ctx.onLog?.(`github: the token was refused (${f.message}); delivery paused`);
        break;
      }
    }
  }
  return { delivered, rateLimitedUntil: null };
}

async function settle(
  db: Db,
  id: string,
  set: { next_at: string; attempts: number; last_error: string },
): Promise<void> {
  await db.updateTable('outbox').set(set).where('id', '=', id).execute();
}

async function send(api: GithubApi, kind: GithubKind, p: GithubPayload): Promise<void> {
  switch (kind) {
    case 'github.assign':
      return api.assign(p.number, await api.login());
    case 'github.comment':
      return api.comment(p.number, p.body ?? '');
    case 'github.close':
      return api.close(p.number);
  }
}
