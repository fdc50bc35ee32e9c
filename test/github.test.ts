import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, it } from 'node:test';
import {
  createGithubSource,
  GAVE_UP_AT,
  type GithubSourceOptions,
  planImport,
} from '../src/autopilot/github.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { parseTrain } from '../src/train/loader.ts';
import { freshEngine } from './helpers.ts';
import { describeOnBackends, storeContents } from './pg.ts';

/*
 * A fake GitHub on 127.0.0.1 answering the REST calls the source makes, with response shapes from
 * GitHub's REST documentation (issues, assignees, comments, users). State lives in memory; every
 * request is recorded; the next N calls of a route can be made to fail.
 */

const TOKEN = 'vt-test-secret-token-4f9a1c0e7b2d';
const OWNER = 'acme';
const REPO = 'models';
const LOGIN = 'vt-bot';

interface Label {
  id: number;
  node_id: string;
  url: string;
  name: string;
  description: string | null;
  color: string;
  default: boolean;
}
interface FakeIssue {
  number: number;
  title: string;
  labels: string[];
  assignees: string[];
  state: 'open' | 'closed';
  created_at: string;
  pr: boolean;
}
interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  auth: string | undefined;
}
interface Reply {
  status: number;
  json: unknown;
  headers: Record<string, string>;
}
type Route = 'user' | 'list' | 'assign' | 'comment' | 'close';
type Failure = '500' | 'rate-limit' | '404' | '401';

class FakeGithub {
  readonly issues = new Map<number, FakeIssue>();
  readonly comments: { issue: number; body: string; id: number }[] = [];
  readonly requests: Recorded[] = [];
  readonly fail = new Map<Route, { n: number; as: Failure; reset?: number }>();
  pageSize = 100;
  server!: Server;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        const r = this.handle(req, text);
        res.writeHead(r.status, {
          'content-type': 'application/json; charset=utf-8',
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': '4999',
          'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
          'x-ratelimit-resource': 'core',
          ...r.headers,
        });
        res.end(JSON.stringify(r.json));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  add(i: Partial<FakeIssue> & { number: number; title: string; created_at: string }): void {
    this.issues.set(i.number, { labels: [], assignees: [], state: 'open', pr: false, ...i });
  }

  failNext(route: Route, n: number, as: Failure, reset?: number): void {
    this.fail.set(route, { n, as, ...(reset === undefined ? {} : { reset }) });
  }

  reset(): void {
    this.requests.length = 0;
  }

  label(name: string, i: number): Label {
    return {
      id: 1000 + i,
      node_id: `LA_${i}`,
      url: `${this.base}/repos/${OWNER}/${REPO}/labels/${encodeURIComponent(name)}`,
      name,
      description: null,
      color: 'ededed',
      default: false,
    };
  }

  user(login: string) {
    return {
      login,
      id: 42,
      node_id: 'U_42',
      avatar_url: '',
      url: `${this.base}/users/${login}`,
      html_url: `https://github.com/${login}`,
      type: 'User',
      site_admin: false,
    };
  }

  /** An issue object as GET /repos/{owner}/{repo}/issues returns it. */
  issueJson(i: FakeIssue) {
    const url = `${this.base}/repos/${OWNER}/${REPO}/issues/${i.number}`;
    return {
      id: 5000 + i.number,
      node_id: `I_${i.number}`,
      url,
      repository_url: `${this.base}/repos/${OWNER}/${REPO}`,
      labels_url: `${url}/labels{/name}`,
      comments_url: `${url}/comments`,
      events_url: `${url}/events`,
      html_url: `https://github.com/${OWNER}/${REPO}/issues/${i.number}`,
      number: i.number,
      state: i.state,
      state_reason: i.state === 'closed' ? 'completed' : null,
      title: i.title,
      body: 'Body text',
      user: this.user('reporter'),
      labels: i.labels.map((n, k) => this.label(n, k)),
      assignee: i.assignees[0] ? this.user(i.assignees[0]) : null,
      assignees: i.assignees.map((a) => this.user(a)),
      milestone: null,
      locked: false,
      active_lock_reason: null,
      comments: this.comments.filter((c) => c.issue === i.number).length,
      ...(i.pr
        ? {
            pull_request: {
              url: `${this.base}/repos/${OWNER}/${REPO}/pulls/${i.number}`,
              html_url: `https://github.com/${OWNER}/${REPO}/pull/${i.number}`,
              diff_url: `https://github.com/${OWNER}/${REPO}/pull/${i.number}.diff`,
              patch_url: `https://github.com/${OWNER}/${REPO}/pull/${i.number}.patch`,
              merged_at: null,
            },
          }
        : {}),
      closed_at: null,
      created_at: i.created_at,
      updated_at: i.created_at,
      closed_by: null,
      author_association: 'MEMBER',
    };
  }

  handle(req: IncomingMessage, text: string): Reply {
    const url = new URL(req.url ?? '/', this.base);
    const body = text ? JSON.parse(text) : null;
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      body,
      auth: req.headers.authorization,
    });
    const send = (status: number, json: unknown, headers: Record<string, string> = {}): Reply => ({
      status,
      json,
      headers,
    });
    const issuePath = new RegExp(`^/repos/${OWNER}/${REPO}/issues/(\\d+)(/assignees|/comments)?$`);
    let route: Route | null = null;
    let m: RegExpExecArray | null = null;
    if (req.method === 'GET' && url.pathname === '/user') route = 'user';
    else if (req.method === 'GET' && url.pathname === `/repos/${OWNER}/${REPO}/issues`) route = 'list';
    else if ((m = issuePath.exec(url.pathname))) {
      if (req.method === 'POST' && m[2] === '/assignees') route = 'assign';
      else if (req.method === 'POST' && m[2] === '/comments') route = 'comment';
      else if (req.method === 'PATCH' && !m[2]) route = 'close';
    }
    if (!route) return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    const f = this.fail.get(route);
    if (f && f.n > 0) {
      f.n--;
      if (f.as === '500')
        // A careless upstream that echoes the credential: it must not reach the store.
        return send(500, { message: `Server Error (${req.headers.authorization})` });
      if (f.as === '404')
        return send(404, {
          message: 'Not Found',
          documentation_url: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
        });
      if (f.as === '401')
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      return send(
        403,
        {
          message: 'API rate limit exceeded for user ID 42.',
          documentation_url: 'https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting',
        },
        { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '5000', 'x-ratelimit-reset': String(f.reset) },
      );
    }
    if (route === 'user') return send(200, this.user(LOGIN));
    if (route === 'list') {
      const labels = (url.searchParams.get('labels') ?? '').split(',').filter((l) => l);
      const all = [...this.issues.values()]
        .filter((i) => i.state === (url.searchParams.get('state') ?? 'open'))
        .filter((i) => labels.every((l) => i.labels.includes(l)))
        .sort((a, b) => a.created_at.localeCompare(b.created_at));
      if (url.searchParams.get('direction') === 'desc') all.reverse();
      const page = Number(url.searchParams.get('page') ?? '1');
      const slice = all.slice((page - 1) * this.pageSize, page * this.pageSize);
      const headers: Record<string, string> = {};
      if (page * this.pageSize < all.length) {
        const next = new URL(url);
        next.searchParams.set('page', String(page + 1));
        headers.link = `<${next}>; rel="next"`;
      }
      return send(
        200,
        slice.map((i) => this.issueJson(i)),
        headers,
      );
    }
    const issue = this.issues.get(Number(m![1]));
    if (!issue) return send(404, { message: 'Not Found' });
    if (route === 'assign') {
      for (const a of (body as { assignees: string[] }).assignees)
        if (!issue.assignees.includes(a)) issue.assignees.push(a);
      return send(201, this.issueJson(issue));
    }
    if (route === 'comment') {
      const id = 9000 + this.comments.length;
      this.comments.push({ issue: issue.number, body: (body as { body: string }).body, id });
      return send(201, {
        id,
        node_id: `IC_${id}`,
        url: `${this.base}/repos/${OWNER}/${REPO}/issues/comments/${id}`,
        html_url: `https://github.com/${OWNER}/${REPO}/issues/${issue.number}#issuecomment-${id}`,
        body: (body as { body: string }).body,
        user: this.user(LOGIN),
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
        issue_url: `${this.base}/repos/${OWNER}/${REPO}/issues/${issue.number}`,
        author_association: 'MEMBER',
      });
    }
    if ((body as { state?: string }).state === 'closed') issue.state = 'closed';
    return send(200, this.issueJson(issue));
  }
}

/** A one-phase train: its checklist is the only gate, so finishing the ticket completes the train. */
const SOLO = `version: 1
name: solo
roles:
  - { id: lab, name: Lab }
phases:
  - id: work
    name: Work
    stage: delivery
    owner: lab
    checklist:
      - { id: done, text: Work done }
    gates:
      exit:
        - { id: done, kind: checklist }
    next: null
`;

const servers: FakeGithub[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function setup(extra: Partial<GithubSourceOptions> = {}) {
  const gh = new FakeGithub();
  await gh.start();
  servers.push(gh);
  const f = await freshEngine();
  const train = parseTrain(SOLO, 'solo.yaml');
  const lead = { actor: 'lead-1' };
  await f.engine.createProject({ id: 'alpha', name: 'Alpha', workspace: f.dir, train }, lead);
  await f.engine.createProject({ id: 'beta', name: 'Beta', workspace: f.dir, train }, lead);
  const tickets = new Tickets(f.engine);
  const logs: string[] = [];
  const source = createGithubSource({
    engine: f.engine,
    tickets,
    repo: `${OWNER}/${REPO}`,
    defaultProject: 'alpha',
    token: TOKEN,
    baseUrl: gh.base,
    syncIntervalMs: 0,
    onLog: (l) => logs.push(l),
    ...extra,
  });
  return { ...f, gh, tickets, source, logs };
}

type Setup = Awaited<ReturnType<typeof setup>>;

const outbox = (f: Setup) =>
  f.store.db.selectFrom('outbox').selectAll().orderBy('created_at').orderBy('id').execute();

/** Import one labelled issue (#7) into alpha and claim its ticket. */
async function claimed(f: Setup) {
  f.gh.add({
    number: 7,
    title: 'Retrain the churn model',
    labels: ['autopilot'],
    created_at: '2025-12-01T00:00:00Z',
  });
  assert.equal(await f.source.sync(), 1);
  const claim = await f.tickets.claimNext('w1', { leaseMs: 60_000 });
  assert.ok(claim);
  assert.equal(claim.ticket.id, 'alpha-1-work');
  return claim;
}

/** No file under .vt (the SQLite file, its WAL) nor any row of the store holds the token (UTF-8 or UTF-16). */
async function noTokenIn(f: Setup): Promise<void> {
  const vtDir = join(f.dir, '.vt');
  const sources: [string, Buffer][] = await storeContents(f.target);
  if (existsSync(vtDir))
    for (const file of readdirSync(vtDir))
      if (statSync(join(vtDir, file)).isFile()) sources.push([file, readFileSync(join(vtDir, file))]);
  assert.ok(sources.length > 0);
  for (const [where, bytes] of sources) {
    assert.equal(bytes.indexOf(TOKEN), -1, `${where} holds the token`);
    assert.equal(bytes.indexOf(Buffer.from(TOKEN, 'utf16le')), -1, `${where} holds the token`);
  }
}

describeOnBackends('github issue source', () => {
  it('imports the right open issues, oldest first, with project and priority; once', async () => {
    const f = await setup();
    f.gh.pageSize = 2; // exercise pagination
    const gh = f.gh;
    gh.add({
      number: 1,
      title: 'Future work',
      labels: ['autopilot', 'future'],
      created_at: '2025-11-05T00:00:00Z',
    });
    gh.add({ number: 2, title: 'Not for us', labels: ['bug'], created_at: '2025-11-01T00:00:00Z' });
    gh.add({
      number: 3,
      title: 'Someone has it',
      labels: ['autopilot', 'now'],
      assignees: ['alice'],
      created_at: '2025-11-02T00:00:00Z',
    });
    gh.add({
      number: 4,
      title: 'A pull request',
      labels: ['autopilot'],
      pr: true,
      created_at: '2025-11-03T00:00:00Z',
    });
    gh.add({
      number: 5,
      title: 'Beta drift',
      labels: ['autopilot', 'project:beta', 'priority:now', 'good first issue'],
      created_at: '2025-11-04T00:00:00Z',
    });
    gh.add({
      number: 6,
      title: 'Urgent',
      labels: ['autopilot', 'now', 'next'],
      created_at: '2025-11-06T00:00:00Z',
    });
    gh.add({ number: 8, title: '  Plain  ', labels: ['autopilot'], created_at: '2025-10-30T00:00:00Z' });
    gh.add({
      number: 9,
      title: 'Nowhere',
      labels: ['autopilot', 'project:nope'],
      created_at: '2025-11-07T00:00:00Z',
    });
    gh.add({
      number: 10,
      title: 'Closed',
      labels: ['autopilot'],
      state: 'closed',
      created_at: '2025-10-01T00:00:00Z',
    });

    const report = await f.source.syncReport();
    assert.ok(report);
    assert.deepEqual(
      report.imported.map((i) => [i.number, i.project, i.priority, i.issue]),
      [
        [8, 'alpha', 'next', 'alpha-1'],
        [5, 'beta', 'now', 'beta-1'],
        [1, 'alpha', 'future', 'alpha-2'],
        [6, 'alpha', 'now', 'alpha-3'],
      ],
    );
    assert.deepEqual(
      report.skipped.map((s) => s.number),
      [3, 9],
    );
    assert.match(report.skipped[1]!.reason, /no project "nope"/);
    assert.ok(f.logs.some((l) => /skipped acme\/models#3: assigned/.test(l)));

    const list = gh.requests.filter((r) => r.path === `/repos/${OWNER}/${REPO}/issues`);
    assert.ok(list.length >= 3, 'followed the Link header to every page');
    const q = list[0]!.query;
    assert.deepEqual(
      ['state', 'labels', 'sort', 'direction', 'per_page'].map((k) => q.get(k)),
      ['open', 'autopilot', 'created', 'asc', '100'],
    );

    const rows = await f.store.db.selectFrom('issues').selectAll().orderBy('seq').execute();
    const byNumber = new Map(rows.map((r) => [r.external_number, r]));
    assert.equal(byNumber.get(5)!.project_id, 'beta');
    assert.deepEqual(JSON.parse(byNumber.get(5)!.labels), [
      'autopilot',
      'project:beta',
      'priority:now',
      'good-first-issue',
    ]);
    assert.equal(byNumber.get(8)!.title, 'Plain');
    assert.equal(byNumber.get(8)!.source, 'github');
    assert.equal(byNumber.get(8)!.external_repo, 'acme/models');
    const tix = await f.store.db.selectFrom('tickets').select(['id', 'priority']).orderBy('id').execute();
    assert.deepEqual(
      tix.map((t) => [t.id, t.priority]),
      [
        ['alpha-1-work', 'next'],
        ['alpha-2-work', 'future'],
        ['alpha-3-work', 'now'],
        ['beta-1-work', 'now'],
      ],
    );

    // The second sync finds nothing new; nor does a sync after the imported issues were self-assigned.
    assert.equal(await f.source.sync(), 0);
    const events = await f.store.db.selectFrom('events').select('seq').execute();
    for (const i of gh.issues.values()) if (i.labels.includes('autopilot')) i.assignees.push(LOGIN);
    assert.equal(await f.source.sync(), 0);
    assert.equal((await f.store.db.selectFrom('events').select('seq').execute()).length, events.length);
    // No vt event wrote an outbox entry for imports: only claims and outcomes talk back.
    assert.equal((await outbox(f)).length, 0);
  });

  it('planImport: priorities, project labels and the default', () => {
    const base = { assigned: false, pullRequest: false };
    const plan = planImport(
      [
        {
          ...base,
          number: 2,
          title: 't',
          labels: ['autopilot', 'project:a', 'project:b'],
          createdAt: '2025-01-02',
        },
        { ...base, number: 1, title: 't', labels: ['Autopilot', 'PRIORITY:FUTURE'], createdAt: '2025-01-01' },
        { ...base, number: 3, title: 't', labels: ['autopilot'], createdAt: '2025-01-03' },
      ],
      { label: 'autopilot' },
    );
    assert.deepEqual(plan.take, []);
    assert.deepEqual(
      plan.skipped.map((s) => s.number),
      [1, 2, 3],
    );
    const withDefault = planImport(
      [
        {
          ...base,
          number: 1,
          title: 'x'.repeat(400),
          labels: ['autopilot', 'priority:future'],
          createdAt: '1',
        },
      ],
      { label: 'autopilot', defaultProject: 'p' },
    );
    assert.equal(withDefault.take[0]!.priority, 'future');
    assert.equal(withDefault.take[0]!.title.length, 300);
  });

  it('self-assigns and comments on a claim, comments outcomes, and closes the issue', async () => {
    const f = await setup();
    const claim = await claimed(f);
    assert.equal(await f.source.deliver(), 2);
    const issue = f.gh.issues.get(7)!;
    assert.deepEqual(issue.assignees, [LOGIN]);
    assert.deepEqual(
      f.gh.comments.map((c) => [c.issue, c.body]),
      [[7, 'Value Train picked up alpha-1-work (phase work).']],
    );
    assert.equal(f.gh.requests.filter((r) => r.path === '/user').length, 1);

    // Three failed attempts (the checklist is open) block the ticket: a comment says how to go on.
    let c = claim;
    for (let i = 0; i < 3; i++) {
      await f.tickets.finish(c, { actor: 'autopilot' }, 0);
      if (i < 2) {
        const next = await f.tickets.claimNext('w1', { leaseMs: 60_000 });
        assert.ok(next);
        c = next;
      }
    }
    assert.equal((await f.engine.state('alpha')).tickets['alpha-1-work']!.status, 'blocked');
    assert.equal(await f.source.deliver(), 5); // two more claims (assign + comment each), the blocked comment
    const blocked = f.gh.comments.at(-1)!.body;
    assert.match(blocked, /^Value Train blocked alpha-1-work \(phase work\) after 3 failed attempts\./);
    assert.match(blocked, /Reason: gates failed: done:/);
    assert.match(blocked, /run `vt retry alpha-1-work`/);
    assert.equal(f.gh.requests.filter((r) => r.path === '/user').length, 1, 'GET /user once');

    // A person retries; the work is done; finishing completes the train and closes the issue.
    await f.tickets.retry('alpha-1-work', { actor: 'lead-1' });
    const last = await f.tickets.claimNext('w1', { leaseMs: 60_000 });
    assert.ok(last);
    await f.engine.tick('alpha', 'done', null, { actor: 'lab-1' });
    const fin = await f.tickets.finish(last, { actor: 'autopilot' }, 0);
    assert.equal(fin.outcome.outcome, 'completed');
    f.gh.reset();
    assert.equal(await f.source.deliver(), 5); // assign, picked up, finished, closed comment, close
    assert.deepEqual(
      f.gh.comments.slice(-3).map((x) => x.body),
      [
        'Value Train picked up alpha-1-work (phase work).',
        'Value Train finished alpha-1-work (phase work): done.\n\nReason: the train is complete',
        'Value Train closed this issue: the project completed the train.',
      ],
    );
    assert.equal(issue.state, 'closed');
    const patch = f.gh.requests.find((r) => r.method === 'PATCH');
    assert.deepEqual(patch?.body, { state: 'closed' });
    assert.equal(await f.source.deliver(), 0);
    const rows = await outbox(f);
    assert.ok(rows.every((r) => r.delivered_at !== null && r.last_error === null));
    assert.match(rows[0]!.id, /^alpha:\d{10}:github\.assign$/);
  });

  it('retries after a 500 and after a rate limit, and delivers each entry exactly once, in order', async () => {
    const f = await setup();
    const claim = await claimed(f);
    f.gh.failNext('comment', 1, '500');
    const before = f.clock.t;
    assert.equal(await f.source.deliver(), 1); // the assignment went through; the comment failed
    let rows = await outbox(f);
    const comment = () => rows.find((r) => r.kind === 'github.comment')!;
    assert.equal(comment().delivered_at, null);
    assert.equal(comment().attempts, 1);
    const waitMs = Date.parse(comment().next_at) - 1000;
    assert.ok(waitMs > before && waitMs <= f.clock.t, 'next_at is now + 1 s');
    assert.match(comment().last_error!, /^HTTP 500: Server Error \(token \[redacted\]\)/);

    // The ticket finishes meanwhile: its comments wait behind the failed one on the same issue.
    await f.engine.tick('alpha', 'done', null, { actor: 'lab-1' });
    await f.tickets.finish(claim, { actor: 'autopilot' }, 0);

    // Another project's issue is claimed: its entries are due too.
    f.gh.add({
      number: 8,
      title: 'Beta work',
      labels: ['autopilot', 'project:beta'],
      created_at: '2025-12-02T00:00:00Z',
    });
    assert.equal(await f.source.sync(), 1);
    assert.equal((await f.tickets.claimNext('w1', { leaseMs: 60_000 }))?.ticket.id, 'beta-1-work');

    // The retry meets a rate limit: the entry waits until the reset, and the batch stops there.
    const reset = Math.floor(f.clock.t / 1000) + 120;
    f.gh.failNext('comment', 1, 'rate-limit', reset);
    f.gh.reset();
    assert.equal(await f.source.deliver(), 0);
    assert.equal(f.gh.requests.length, 1, 'stopped at the rate-limit reply');
    rows = await outbox(f);
    assert.equal(comment().next_at, new Date(reset * 1000).toISOString());
    assert.equal(comment().attempts, 2);
    assert.match(comment().last_error!, /^rate limited until/);

    // Before the reset nothing is sent at all.
    f.gh.reset();
    f.clock.t += 60_000;
    assert.equal(await f.source.deliver(), 0);
    assert.equal(f.gh.requests.length, 0);

    f.clock.t = reset * 1000 + 1;
    assert.equal(await f.source.deliver(), 6);
    assert.equal(await f.source.deliver(), 0);
    assert.deepEqual(
      f.gh.comments.filter((c) => c.issue === 7).map((c) => c.body.split('\n')[0]),
      [
        'Value Train picked up alpha-1-work (phase work).',
        'Value Train finished alpha-1-work (phase work): done.',
        'Value Train closed this issue: the project completed the train.',
      ],
      'each comment once, in event order',
    );
    assert.deepEqual(
      f.gh.comments.filter((c) => c.issue === 8).map((c) => c.body),
      ['Value Train picked up beta-1-work (phase work).'],
    );
    assert.equal(f.gh.issues.get(7)!.state, 'closed');
    assert.deepEqual(f.gh.issues.get(8)!.assignees, [LOGIN]);
    rows = await outbox(f);
    assert.ok(rows.every((r) => r.delivered_at !== null));
  });

  it("holds an issue's later entries behind a waiting one, not other issues'", async () => {
    const f = await setup();
    const claim = await claimed(f);
    f.gh.failNext('comment', 1, '500');
    assert.equal(await f.source.deliver(), 1);
    await f.engine.tick('alpha', 'done', null, { actor: 'lab-1' });
    await f.tickets.finish(claim, { actor: 'autopilot' }, 0);
    f.gh.add({
      number: 8,
      title: 'Beta',
      labels: ['autopilot', 'project:beta'],
      created_at: '2025-12-02T00:00:00Z',
    });
    assert.equal(await f.source.sync(), 1);
    assert.ok(await f.tickets.claimNext('w1', { leaseMs: 60_000 }));
    // As after a few more failures: the first comment waits ten minutes.
    const later = new Date(f.clock.t + 10 * 60_000).toISOString();
    await f.store.db
      .updateTable('outbox')
      .set({ next_at: later })
      .where('kind', '=', 'github.comment')
      .where('delivered_at', 'is', null)
      .where('attempts', '=', 1)
      .execute();
    f.gh.reset();
    assert.equal(await f.source.deliver(), 2, "issue 8's entries go out");
    assert.ok(
      f.gh.requests.every((r) => !r.path.includes('/issues/7')),
      'nothing for issue 7 yet',
    );
    f.clock.t += 11 * 60_000;
    assert.equal(await f.source.deliver(), 4);
    assert.deepEqual(
      f.gh.comments.filter((c) => c.issue === 7).map((c) => c.body.split('\n')[0]),
      [
        'Value Train picked up alpha-1-work (phase work).',
        'Value Train finished alpha-1-work (phase work): done.',
        'Value Train closed this issue: the project completed the train.',
      ],
    );
  });

  it('writes comments as plain text: control characters, secrets and @mentions defused', async () => {
    const f = await setup();
    let claim = await claimed(f);
    for (let i = 1; i <= 3; i++) {
      await f.tickets.failAttempt(
        claim,
        `run ${i} failed\u001b[31m: ping @alice, key ${TOKEN}`,
        { actor: 'autopilot' },
        0,
      );
      if (i < 3) claim = (await f.tickets.claimNext('w1', { leaseMs: 60_000 }))!;
    }
    await f.source.deliver();
    const body = f.gh.comments.at(-1)!.body;
    assert.equal(
      body,
      'Value Train blocked alpha-1-work (phase work) after 3 failed attempts.\n\n' +
        'Reason: run 3 failed: ping @\u200balice, key [redacted]\n\n' +
        'When it can go on, run `vt retry alpha-1-work`.',
    );
    assert.ok(!JSON.stringify(await outbox(f)).includes(TOKEN));
  });

  it('gives up on a refused call after three attempts, without holding back the rest', async () => {
    const f = await setup();
    const claim = await claimed(f);
    f.gh.failNext('comment', 3, '404');
    assert.equal(await f.source.deliver(), 1);
    for (let i = 0; i < 3; i++) {
      f.clock.t += 10 * 60_000;
      await f.source.deliver();
    }
    const rows = await outbox(f);
    const comment = rows.find((r) => r.kind === 'github.comment')!;
    assert.equal(comment.delivered_at, null);
    assert.equal(comment.next_at, GAVE_UP_AT);
    assert.equal(comment.attempts, 3);
    assert.match(comment.last_error!, /^gave up after 3 attempts: HTTP 404: Not Found/);
    assert.ok(f.logs.some((l) => /gave up/.test(l)));
    assert.equal(f.gh.comments.length, 0);
    const calls = f.gh.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/comments')).length;
    f.clock.t += 60 * 60_000;
    await f.source.deliver();
    assert.equal(
      f.gh.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/comments')).length,
      calls,
      'a given-up entry is not sent again',
    );
    // Later entries of the same issue go out.
    await f.engine.tick('alpha', 'done', null, { actor: 'lab-1' });
    await f.tickets.finish(claim, { actor: 'autopilot' }, 0);
    assert.equal(await f.source.deliver(), 3);
    assert.equal(f.gh.comments.length, 2);
    assert.equal(f.gh.issues.get(7)!.state, 'closed');
  });

  it('pauses listing after a rate limit and never lets the token reach the store', async () => {
    const f = await setup();
    const reset = Math.floor(f.clock.t / 1000) + 300;
    f.gh.failNext('list', 1, 'rate-limit', reset);
    await assert.rejects(f.source.sync(), /listing the issues of acme\/models failed: HTTP 403/);
    f.gh.reset();
    assert.equal(await f.source.sync(), 0);
    assert.equal(f.gh.requests.length, 0, 'no call before the reset');
    f.clock.t = reset * 1000;

    const claim = await claimed(f);
    f.gh.failNext('comment', 1, '500'); // its message echoes the Authorization header
    await f.source.deliver();
    const failed = (await outbox(f)).find((r) => r.attempts === 1 && r.delivered_at === null);
    assert.match(failed?.last_error ?? '', /\[redacted\]/);
    await noTokenIn(f);
    await f.engine.tick('alpha', 'done', null, { actor: 'lab-1' });
    await f.tickets.finish(claim, { actor: 'autopilot' }, 0);
    f.clock.t += 5000;
    await f.source.deliver();

    // Every request carried the token; nothing in the store holds it.
    assert.ok(f.gh.requests.length > 0);
    for (const r of [...f.gh.requests]) assert.equal(r.auth, `token ${TOKEN}`);
    const rows = await outbox(f);
    assert.ok(
      rows.some((r) => r.last_error === null && r.attempts === 2),
      'the failed entry was retried',
    );
    assert.ok(!JSON.stringify(rows).includes(TOKEN));
    await f.store.close();
    await noTokenIn(f);
    assert.ok(!f.logs.join('\n').includes(TOKEN));
  });
});
