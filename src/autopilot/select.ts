import type { QueueRow } from '../store/queue.ts';
import { PRIORITIES } from '../types.ts';

export interface SelectOptions {
  now: Date;
  /** Labels a ticket must all carry. */
  labels?: readonly string[] | undefined;
  /** Issues assigned to someone other than these are left to their assignee. */
  assignees?: readonly string[] | undefined;
}

/**
 * The order the autopilot takes work in, deterministically:
 * 1. a ticket whose worker's lease expired (recover first);
 * 2. priority now → next → future;
 * 3. the project claimed least recently (so a busy project cannot starve the others);
 * 4. the oldest ticket, then its id.
 * A project with a ticket running under a live lease is skipped: its phases run one at a time.
 */
export function selectTickets(rows: readonly QueueRow[], opts: SelectOptions): QueueRow[] {
  const now = opts.now.getTime();
  const live = (r: QueueRow) =>
    r.status === 'running' && r.lease_expires_at !== null && Date.parse(r.lease_expires_at) > now;
  const busy = new Set(rows.filter(live).map((r) => r.project_id));
  const rank = (p: string) => {
    const i = PRIORITIES.indexOf(p as (typeof PRIORITIES)[number]);
    return i < 0 ? PRIORITIES.length : i;
  };
  const eligible = rows.filter((r) => {
    if (busy.has(r.project_id)) return false;
    if (r.status === 'running') return true; // its lease expired
    if (r.not_before && Date.parse(r.not_before) > now) return false;
    if (r.assignee && !(opts.assignees ?? []).includes(r.assignee)) return false;
    if (opts.labels?.length) {
      const have: string[] = JSON.parse(r.labels);
      if (!opts.labels.every((l) => have.includes(l))) return false;
    }
    return true;
  });
  return eligible.sort(
    (a, b) =>
      Number(b.status === 'running') - Number(a.status === 'running') ||
      rank(a.priority) - rank(b.priority) ||
      (a.last_claim_at ?? '').localeCompare(b.last_claim_at ?? '') ||
      a.created_at.localeCompare(b.created_at) ||
      a.seq - b.seq ||
      a.id.localeCompare(b.id),
  );
}

/** The earliest time a waiting ticket becomes claimable, if any waits on a timer. */
export function nextWake(rows: readonly QueueRow[], now: Date): Date | null {
  let best: number | null = null;
  for (const r of rows) {
    const t = r.status === 'running' ? r.lease_expires_at : r.not_before;
    if (!t) continue;
    const ms = Date.parse(t);
    if (ms > now.getTime() && (best === null || ms < best)) best = ms;
  }
  return best === null ? null : new Date(best);
}
