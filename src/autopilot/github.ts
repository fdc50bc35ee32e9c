import type { Engine } from '../engine/engine.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import { VtError } from '../errors.ts';
import type { Priority } from '../types.ts';
import {
  classifyFailure,
  createGithubApi,
  type GithubApi,
  type GithubIssueItem,
  parseRepo,
  scrub,
} from './github-client.ts';
import { deliverGithubOutbox, githubOutboxRule } from './github-outbox.ts';
import type { IssueSource } from './worker.ts';

export { type GithubApi, type GithubIssueItem, parseRepo } from './github-client.ts';
export { GAVE_UP_AT, GITHUB_KINDS, githubOutboxRule, MAX_REJECTIONS } from './github-outbox.ts';

/*
 * GitHub Issues as a source of work (see docs/github.md): sync() imports open issues carrying a label
 * as vt issues; the outbox rule and deliver() mirror claims, outcomes and closes back as assignments,
 * comments and closes.
 */

export interface GithubSourceOptions {
  engine: Engine;
  tickets: Tickets;
  /** owner/name */
  repo: string;
  /** Only issues carrying this label are imported (default `autopilot`). */
  label?: string | undefined;
  /** The project of an issue without a `project:<id>` label; without it such issues are skipped. */
  defaultProject?: string | undefined;
  /** Used in the Authorization header only: never logged or stored. */
  token: string;
  /** Default https://api.github.com (GitHub Enterprise: https://HOST/api/v3). */
  baseUrl?: string | undefined;
  /** Default: the engine's clock. */
  clock?: (() => Date) | undefined;
  /** Least time between two listings of the repository's issues (default 30 s; 0 lists every sync). */
  syncIntervalMs?: number | undefined;
  /** Calls to GitHub per deliver() at most (default 20). */
  batch?: number | undefined;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number | undefined;
  /** Lines worth telling an operator (skipped issues, give-ups, rate limits), secrets redacted. */
  onLog?: ((line: string) => void) | undefined;
  /** Register the outbox rule on the engine (default true). */
  registerRule?: boolean | undefined;
  /** Another GitHub client (tests of the source itself); baseUrl and timeoutMs are then unused. */
  api?: GithubApi | undefined;
}

export interface SyncReport {
  imported: { number: number; project: string; issue: string; ticket: string; priority: Priority }[];
  skipped: { number: number; reason: string }[];
  /** Issues imported by an earlier sync. */
  known: number;
}

export interface GithubSource extends IssueSource {
  readonly repo: string;
  /** sync() with its details; `null` when the listing was not due (interval, rate limit). */
  syncReport(opts?: { force?: boolean }): Promise<SyncReport | null>;
}

export interface PlannedIssue {
  number: number;
  title: string;
  project: string;
  priority: Priority;
  labels: string[];
}

const PRIORITY_LABEL = /^(?:priority[:/])?(now|next|future)$/i;
const PROJECT_LABEL = /^project:(.+)$/i;

/** A GitHub label as a vt label: characters outside [A-Za-z0-9_.:/-] become "-", at most 50. */
export function vtLabel(name: string): string {
  return name
    .trim()
    .replace(/[^\w.:/-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
}

/**
 * Which listed issues become vt issues, oldest first: pull requests and assigned issues are left alone,
 * the project comes from a `project:<id>` label or the default, the priority from `now`/`next`/`future`
 * (or `priority:now`...; the most urgent wins; default `next`).
 */
export function planImport(
  items: readonly GithubIssueItem[],
  opts: { label: string; defaultProject?: string | undefined },
): { take: PlannedIssue[]; skipped: { number: number; reason: string }[] } {
  const take: PlannedIssue[] = [];
  const skipped: { number: number; reason: string }[] = [];
  const sorted = [...items].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.number - b.number);
  for (const it of sorted) {
    if (it.pullRequest) continue; // the issues endpoint lists pull requests too
    if (!it.labels.some((l) => l.toLowerCase() === opts.label.toLowerCase())) continue;
    if (it.assigned) {
      skipped.push({ number: it.number, reason: 'assigned to someone: left to them' });
      continue;
    }
    const projects = [
      ...new Set(it.labels.map((l) => PROJECT_LABEL.exec(l)?.[1]?.trim().toLowerCase()).filter((p) => !!p)),
    ] as string[];
    if (projects.length > 1) {
      skipped.push({ number: it.number, reason: `more than one project label (${projects.join(', ')})` });
      continue;
    }
    const project = projects[0] ?? opts.defaultProject;
    if (!project) {
      skipped.push({ number: it.number, reason: 'no project:<id> label and no default project' });
      continue;
    }
    const ranks = it.labels
      .map((l) => PRIORITY_LABEL.exec(l.trim())?.[1]?.toLowerCase())
      .filter((p): p is Priority => !!p);
    const priority = (['now', 'next', 'future'] as const).find((p) => ranks.includes(p)) ?? 'next';
    const title = it.title.trim().replace(/\s+/g, ' ') || `GitHub issue #${it.number}`;
    take.push({
      number: it.number,
      title: title.length > 300 ? `${title.slice(0, 299)}…` : title,
      project,
      priority,
      labels: [...new Set(it.labels.map(vtLabel).filter((l) => l))],
    });
  }
  return { take, skipped };
}

export function createGithubSource(opts: GithubSourceOptions): GithubSource {
  const { engine, tickets } = opts;
  const repo = parseRepo(opts.repo).full;
  const label = opts.label ?? 'autopilot';
  const secrets = [opts.token];
  const now = opts.clock ?? (() => engine.clock.now());
  const log = (line: string) => opts.onLog?.(scrub(line, secrets, 1000));
  const api =
    opts.api ??
    createGithubApi({
      repo,
      token: opts.token,
      baseUrl: opts.baseUrl,
      timeoutMs: opts.timeoutMs,
      onLog: log,
    });
  if (opts.registerRule !== false) engine.addOutboxRule(githubOutboxRule({ repo, secrets }));
  const interval = opts.syncIntervalMs ?? 30_000;
  let lastSync: number | null = null;
  let pausedUntil = 0; // after a rate-limit reply, nothing is sent before this
  const told = new Set<string>(); // skips already logged

  async function syncReport(o: { force?: boolean } = {}): Promise<SyncReport | null> {
    const t = now();
    if (t.getTime() < pausedUntil) return null;
    if (!o.force && lastSync !== null && t.getTime() - lastSync < interval) return null;
    lastSync = t.getTime();
    let items: GithubIssueItem[];
    try {
      items = await api.listOpenIssues(label);
    } catch (err) {
      const f = classifyFailure(err, t, secrets);
      if (f.kind === 'rate-limited') pausedUntil = f.until.getTime();
      throw new Error(`listing the issues of ${repo} failed: ${f.message}`);
    }
    const listed = items.map((i) => i.number);
    const known = new Set(
      listed.length
        ? (
            await engine.store.db
              .selectFrom('issues')
              .select('external_number')
              .where('external_repo', '=', repo)
              .where('external_number', 'in', listed)
              .execute()
          ).map((r) => r.external_number)
        : [],
    );
    // An imported issue is assigned to the token's user by then: it is known, not "assigned to someone".
    const plan = planImport(
      items.filter((i) => !known.has(i.number)),
      { label, defaultProject: opts.defaultProject },
    );
    const report: SyncReport = { imported: [], skipped: plan.skipped, known: known.size };
    for (const p of plan.take) {
      try {
        const c = await tickets.addIssue(
          p.project,
          {
            title: p.title,
            priority: p.priority,
            labels: p.labels,
            source: 'github',
            external: { repo, number: p.number },
          },
          { actor: 'github', idempotencyKey: `github:${repo}#${p.number}` },
        );
        if (c.replayed) report.known++;
        else report.imported.push({ ...p, issue: c.issue, ticket: c.ticket });
      } catch (err) {
        if (!(err instanceof VtError) || err.code === 'STORE_ERROR' || err.code === 'INTERNAL') throw err;
        report.skipped.push({ number: p.number, reason: err.message });
      }
    }
    for (const s of report.skipped) {
      const key = `${s.number}:${s.reason}`;
      if (told.has(key)) continue;
      told.add(key);
      log(`github: skipped ${repo}#${s.number}: ${s.reason}`);
    }
    for (const i of report.imported)
      log(`github: imported ${repo}#${i.number} as ${i.issue} (${i.project}, ${i.priority})`);
    return report;
  }

  return {
    name: `github:${repo}`,
    repo,
    syncReport,
    async sync() {
      return (await syncReport())?.imported.length ?? 0;
    },
    async deliver() {
      const t = now();
      if (t.getTime() < pausedUntil) return 0;
      const r = await deliverGithubOutbox({
        db: engine.store.db,
        api,
        now: t,
        batch: opts.batch ?? 20,
        secrets,
        onLog: log,
      });
      if (r.rateLimitedUntil) pausedUntil = r.rateLimitedUntil.getTime();
      return r.delivered;
    },
  };
}
