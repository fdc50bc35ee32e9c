import { Octokit } from '@octokit/rest';
import { VtError } from '../errors.ts';
import { redact } from '../redact.ts';

/*
 * The few GitHub REST calls the GitHub issue source makes, over Octokit, and how a failed call is
 * classified for the outbox. @octokit/rest bundles no retry or throttling plugin (unlike the `octokit`
 * package): every call is made once, and the outbox decides when to try again.
 */

/** An open GitHub issue as the importer needs it. */
export interface GithubIssueItem {
  number: number;
  title: string;
  labels: string[];
  /** Someone is assigned: the issue belongs to a person. */
  assigned: boolean;
  /** The issues endpoint lists pull requests too; they carry `pull_request`. */
  pullRequest: boolean;
  createdAt: string;
}

/** One repository's issues, as the token's user sees them. */
export interface GithubApi {
  readonly repo: string;
  /** Open issues carrying `label`, oldest first (every page). */
  listOpenIssues(label: string): Promise<GithubIssueItem[]>;
  /** The token's user (GET /user, asked once). */
  login(): Promise<string>;
  assign(number: number, login: string): Promise<void>;
  comment(number: number, body: string): Promise<void>;
  close(number: number): Promise<void>;
}

export const DEFAULT_BASE_URL = 'https://api.github.com';
/** Pages of 100 issues read per sync at most. */
const MAX_PAGES = 50;

/** `owner/name`, lower-cased (GitHub names are case-insensitive): how issues are keyed in the store. */
export function parseRepo(repo: string): { owner: string; name: string; full: string } {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(repo.trim());
  if (!m || m[2] === '.' || m[2] === '..')
    throw new VtError('BAD_INPUT', `"${repo}" is not a GitHub repository: expected owner/name`);
  const owner = m[1]!.toLowerCase();
  const name = m[2]!.toLowerCase();
  return { owner, name, full: `${owner}/${name}` };
}

/** Redact secrets (the token, secret-named env values, credential shapes) and bound the length. */
export function scrub(text: string, secrets: readonly string[], max = 500): string {
  let out = redact(text);
  for (const s of secrets) if (s && out.includes(s)) out = out.split(s).join('[redacted]');
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

export function createGithubApi(opts: {
  repo: string;
  token: string;
  baseUrl?: string | undefined;
  timeoutMs?: number | undefined;
  onLog?: ((line: string) => void) | undefined;
}): GithubApi {
  const { owner, name, full } = parseRepo(opts.repo);
  if (!opts.token) throw new VtError('BAD_INPUT', 'a GitHub token is needed (GITHUB_TOKEN)');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const noop = () => {};
  const octokit = new Octokit({
    auth: opts.token,
    baseUrl: (opts.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, ''),
    userAgent: 'value-train',
    // Octokit's request log goes nowhere; deprecation warnings reach the caller's log, scrubbed.
    log: {
      debug: noop,
      info: noop,
      warn: (m: string) => opts.onLog?.(scrub(String(m), [opts.token])),
      error: noop,
    },
    request: {
      fetch: (url: string | URL | Request, init?: RequestInit) =>
        fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }),
    },
  });
  let login: Promise<string> | null = null;
  return {
    repo: full,
    async listOpenIssues(label) {
      let pages = 0;
      const items = await octokit.paginate(
        octokit.rest.issues.listForRepo,
        { owner, repo: name, state: 'open', labels: label, sort: 'created', direction: 'asc', per_page: 100 },
        (response, done) => {
          if (++pages >= MAX_PAGES) done();
          return response.data;
        },
      );
      return items
        .map((i) => ({
          number: i.number,
          title: i.title,
          labels: i.labels
            .map((l) => (typeof l === 'string' ? l : (l.name ?? '')))
            .filter((l): l is string => !!l),
          assigned: !!i.assignee || (i.assignees?.length ?? 0) > 0,
          pullRequest: !!i.pull_request,
          createdAt: i.created_at,
        }))
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.number - b.number);
    },
    login() {
      login ??= octokit.rest.users.getAuthenticated().then(
        (r) => r.data.login,
        (err) => {
          login = null; // ask again next time
          throw err;
        },
      );
      return login;
    },
    async assign(number, who) {
      await octokit.rest.issues.addAssignees({ owner, repo: name, issue_number: number, assignees: [who] });
    },
    async comment(number, body) {
      await octokit.rest.issues.createComment({ owner, repo: name, issue_number: number, body });
    },
    async close(number) {
      await octokit.rest.issues.update({ owner, repo: name, issue_number: number, state: 'closed' });
    },
  };
}

/** What a failed call means for the outbox entry that made it. */
export type Failure =
  /** Wait until `until`, then try again; stop the batch (every call would get the same answer). */
  | { kind: 'rate-limited'; until: Date; status: number; message: string }
  /** A 5xx, a timeout or a network error: back off and try again. */
  | { kind: 'transient'; status: number | null; message: string }
  /** Any other 4xx: GitHub refused; give up after a few attempts. */
  | { kind: 'rejected'; status: number; message: string };

interface HttpishError {
  status?: unknown;
  message?: unknown;
  response?: { headers?: Record<string, string | number | undefined> };
}

/** Classify an error thrown by Octokit (RequestError) or fetch. Messages are scrubbed of `secrets`. */
export function classifyFailure(err: unknown, now: Date, secrets: readonly string[]): Failure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpishError;
  const raw = err instanceof Error ? err.message : String(err);
  const status = typeof e.status === 'number' && e.response ? e.status : null;
  const message = scrub(status ? `HTTP ${status}: ${raw}` : `network: ${raw}`, secrets);
  if (status === null || status >= 500 || status === 408) return { kind: 'transient', status, message };
  const h = e.response?.headers ?? {};
  const header = (k: string) => (h[k] === undefined ? null : String(h[k]));
  if (status === 403 || status === 429) {
    const retryAfter = Number(header('retry-after'));
    const reset = Number(header('x-ratelimit-reset'));
    let until: number | null = null;
    if (header('retry-after') !== null && Number.isFinite(retryAfter))
      until = now.getTime() + Math.max(retryAfter, 1) * 1000;
    else if (header('x-ratelimit-remaining') === '0')
      until = Number.isFinite(reset) && reset > 0 ? reset * 1000 : now.getTime() + 60_000;
    else if (status === 429 || /secondary rate limit/i.test(raw)) until = now.getTime() + 60_000;
    if (until !== null)
      return {
        kind: 'rate-limited',
        until: new Date(Math.max(until, now.getTime() + 1000)),
        status,
        message,
      };
  }
  return { kind: 'rejected', status, message };
}
