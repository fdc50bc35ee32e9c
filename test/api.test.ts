import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { valueReport } from '../src/analytics/index.ts';
import { ROUTES } from '../src/api/app.ts';
import { dumpProjections } from '../src/store/projector.ts';
import { parseTrain } from '../src/train/loader.ts';
import { readSse, servedStore, triageAwaitingApproval } from './api-helpers.ts';
import { DAY, generateHistory, type PlannedProject } from './fixtures/value-history.ts';
import {
  backendEnv,
  folderStore,
  MINI,
  ROOT,
  runVt,
  spawnCollect,
  tempDir,
  VT_BIN,
  writeFile,
} from './helpers.ts';
import { describeOnBackends, storeContents } from './pg.ts';
import { makeKeys, signedTrainText } from './signing-helpers.ts';
import { SoftPasskey } from './webauthn-helpers.ts';

/** A GET with exactly these headers (fetch would replace Host). */
function rawGet(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, setHost: false }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Served = Awaited<ReturnType<typeof servedStore>>;

/** Everything in the store a request could change: projections and the event count. */
async function snapshot(f: Served) {
  const events = await f.store.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return { projections: await dumpProjections(f.store.db), events: Number(events?.n) };
}

describeOnBackends('HTTP API', () => {
  let f: Served;
  let viewer: string;
  let lead1: string;
  let lead2: string;
  let operator: string;
  before(async () => {
    f = await servedStore();
    await triageAwaitingApproval(f, 'churn');
    await triageAwaitingApproval(f, 'fraud', 'risk');
    viewer = await f.token('vera', { role: 'viewer', project: '*' });
    lead1 = await f.token('lead-1', { role: 'approver', project: '*' });
    lead2 = await f.token(
      'lead-2',
      { role: 'approver', project: '*' },
      { role: 'operator', project: 'churn' },
    );
    operator = await f.token('olga', { role: 'operator', project: '*' });
  });
  after(async () => {
    await f.server.close();
    await f.store.close();
    rmSync(f.dir, { recursive: true, force: true });
  });

  it('publishes an OpenAPI document naming every route, with the error shape', async () => {
    const r = await f.call('GET', '/api/openapi.json', null);
    assert.equal(r.status, 200);
    assert.equal(r.json.openapi, '3.1.0');
    for (const route of ROUTES)
      assert.ok(r.json.paths[route.path]?.[route.method], `${route.method} ${route.path}`);
    assert.ok(
      r.json.components.schemas.Error.properties.error.properties.code.enum.includes('NOT_PERMITTED'),
    );
  });

  it('refuses a foreign Host or Origin with 403 before anything else (DNS rebinding)', async () => {
    // fetch() sets Host itself; a raw request sends what a rebinding page's browser would.
    for (const host of [
      'evil.example',
      `evil.example:${f.server.port}`,
      `127.0.0.1.evil.example:${f.server.port}`,
    ]) {
      const r = await rawGet(f.server.port, '/api/me', { host, authorization: `Bearer ${viewer}` });
      assert.equal(r.status, 403, host);
      assert.equal(JSON.parse(r.body).error.code, 'NOT_PERMITTED');
    }
    assert.equal(
      (await rawGet(f.server.port, '/api/health', { host: `localhost:${f.server.port}` })).status,
      200,
    );
    for (const origin of [
      'http://evil.example',
      `http://evil.example:${f.server.port}`,
      'null',
      `https://localhost:${f.server.port}`,
    ]) {
      const r = await f.call('GET', '/api/me', viewer, undefined, { origin });
      assert.equal(r.status, 403, origin);
    }
    const ok = await f.call('GET', '/api/me', viewer, undefined, {
      origin: `http://localhost:${f.server.port}`,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.person, 'vera');
  });

  it('answers a missing, bad, revoked or expired token with 401 UNAUTHENTICATED', async () => {
    assert.equal((await f.call('GET', '/api/me', null)).json.error.code, 'UNAUTHENTICATED');
    const bad = await f.call('GET', '/api/me', 'vt_not-a-token');
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error.code, 'UNAUTHENTICATED');
    const { createToken, revokeToken } = await import('../src/api/tokens.ts');
    const made = await createToken(
      f.store,
      { person: 'gone', grants: [{ role: 'viewer', project: '*' }], by: 't' },
      new Date(),
    );
    assert.equal((await f.call('GET', '/api/me', made.token)).status, 200);
    await revokeToken(f.store.db, made.id, new Date());
    const revoked = await f.call('GET', '/api/me', made.token);
    assert.equal(revoked.status, 401);
    assert.match(revoked.json.error.message, /revoked/);
    const short = await createToken(
      f.store,
      {
        person: 'brief',
        grants: [{ role: 'viewer', project: '*' }],
        by: 't',
        expiresAt: new Date(Date.now() + 1500),
      },
      new Date(),
    );
    assert.equal((await f.call('GET', '/api/me', short.token)).status, 200);
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal((await f.call('GET', '/api/me', short.token)).status, 401);
  });

  it('a viewer cannot approve, and the refused request changes nothing', async () => {
    const before = await snapshot(f);
    const r = await f.call('POST', '/api/projects/churn/approve', viewer, {});
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'NOT_PERMITTED');
    assert.match(r.json.error.message, /may not decide/);
    assert.deepEqual(await snapshot(f), before);
  });

  it('an approver cannot approve work they did: the engine refuses, and nothing changes', async () => {
    await f.engine.tick('churn', 'extra', null, { actor: 'lead-1' });
    const before = await snapshot(f);
    const r = await f.call('POST', '/api/projects/churn/approve', lead1, {});
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'NOT_PERMITTED');
    assert.match(r.json.error.message, /lead-1 did work in visit 1 of triage/);
    assert.deepEqual(await snapshot(f), before);
  });

  it('bad JSON, unknown fields, a missing reason and unknown ids get clear 4xx errors and change nothing', async () => {
    const before = await snapshot(f);
    const cases: [string, string, unknown, number, string, RegExp][] = [
      ['POST', '/api/projects/churn/approve', '{"reason": ', 400, 'BAD_INPUT', /not valid JSON/],
      ['POST', '/api/projects/churn/approve', { reason: 'ok', sneaky: true }, 400, 'BAD_INPUT', /sneaky/],
      ['POST', '/api/projects/churn/reject', {}, 400, 'BAD_INPUT', /body\.reason/],
      ['POST', '/api/projects/churn/reject', { reason: '   ' }, 400, 'BAD_INPUT', /reason/],
      ['POST', '/api/projects/nope/approve', {}, 404, 'NOT_FOUND', /no project "nope"/],
      ['POST', '/api/projects/Bad%20Id/approve', {}, 400, 'BAD_INPUT', /path\.id/],
      ['GET', '/api/projects/nope', undefined, 404, 'NOT_FOUND', /nope/],
      ['GET', '/api/projects/churn/gates/nowhere', undefined, 404, 'NOT_FOUND', /nowhere/],
      ['POST', '/api/tickets/nope-1/retry', undefined, 404, 'NOT_FOUND', /no ticket/],
      ['GET', '/api/events/churn/9999', undefined, 404, 'NOT_FOUND', /churn#9999/],
      ['GET', '/api/portfolio/projects?limit=0', undefined, 400, 'BAD_INPUT', /query\.limit/],
      ['GET', '/api/attention?cursor=garbage', undefined, 400, 'BAD_INPUT', /cursor/],
      ['GET', '/api/nothing-here', undefined, 404, 'NOT_FOUND', /no route/],
      [
        'POST',
        '/api/projects/churn/waive',
        { gate: 'go', reason: 'x', expires_at: 'tomorrow' },
        400,
        'BAD_INPUT',
        /expires_at/,
      ],
    ];
    for (const [method, path, body, status, code, re] of cases) {
      const r = await f.call(method, path, lead2, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.equal(r.json.error.code, code, path);
      assert.match(r.json.error.message, re, path);
    }
    assert.deepEqual(await snapshot(f), before);
  });

  it('an operator may advance but not decide; an approver decides as their person, once per idempotency key', async () => {
    assert.equal((await f.call('POST', '/api/projects/fraud/approve', operator, {})).status, 403);
    const stayed = await f.call('POST', '/api/projects/fraud/advance', operator);
    assert.equal(stayed.status, 200);
    assert.equal(stayed.json.outcome.outcome, 'stayed');
    const key = { 'idempotency-key': 'approve-fraud-1' };
    const first = await f.call('POST', '/api/projects/fraud/approve', lead2, { reason: 'looks right' }, key);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.replayed, false);
    const again = await f.call('POST', '/api/projects/fraud/approve', lead2, { reason: 'looks right' }, key);
    assert.equal(again.json.replayed, true);
    const approvals = await f.store.db
      .selectFrom('approvals')
      .selectAll()
      .where('project_id', '=', 'fraud')
      .execute();
    assert.equal(approvals.length, 1);
    assert.equal(approvals[0]!.actor, 'lead-2');
    // lead-2 operates only churn: advancing fraud is refused; an operator advances it.
    assert.equal((await f.call('POST', '/api/projects/fraud/advance', lead2)).status, 403);
    const moved = await f.call('POST', '/api/projects/fraud/advance', operator);
    assert.equal(moved.json.outcome.outcome, 'advanced');
    assert.equal(moved.json.phase, 'build');
  });

  it('a token scoped to one project reads only that project', async () => {
    const scoped = await f.token('sam', { role: 'viewer', project: 'churn' });
    assert.equal((await f.call('GET', '/api/projects/churn', scoped)).status, 200);
    const other = await f.call('GET', '/api/projects/fraud', scoped);
    assert.equal(other.status, 403);
    const page = await f.call('GET', '/api/portfolio/projects', scoped);
    assert.deepEqual(
      page.json.rows.map((r: { id: string }) => r.id),
      ['churn'],
    );
    const events = await f.call('GET', '/api/events?limit=500', scoped);
    assert.ok(events.json.events.length > 0);
    assert.ok(events.json.events.every((e: { project_id: string }) => e.project_id === 'churn'));
    assert.equal((await f.call('GET', '/api/audit/verify', scoped)).status, 403);
    assert.equal((await f.call('GET', '/api/audit/verify?project=churn', scoped)).json.ok, true);
  });

  it('pages the portfolio by cursor: every project exactly once, no page over the limit', async () => {
    for (let i = 0; i < 23; i++)
      await f.engine.createProject(
        {
          id: `p-${String(i).padStart(2, '0')}`,
          name: `P${i}`,
          team: i % 2 ? 'odd' : 'even',
          workspace: f.dir,
          train: f.train,
        },
        { actor: 'lead-1' },
      );
    const seen: string[] = [];
    let after: string | null = null;
    for (let n = 0; n < 20; n++) {
      const r: Awaited<ReturnType<Served['call']>> = await f.call(
        'GET',
        `/api/portfolio/projects?limit=7${after ? `&after=${after}` : ''}`,
        viewer,
      );
      assert.ok(r.json.rows.length <= 7);
      seen.push(...r.json.rows.map((x: { id: string }) => x.id));
      after = r.json.next;
      if (!after) break;
    }
    const all = (await f.store.db.selectFrom('projects').select('id').orderBy('id').execute()).map(
      (r) => r.id,
    );
    assert.deepEqual(seen, all);
    const odd = await f.call('GET', '/api/portfolio/flow?team=odd', viewer);
    assert.equal(odd.json.total, 11);
    // The median age per phase, against one computed here from the same rows.
    const since = (
      await f.store.db
        .selectFrom('projects')
        .select('phase_since')
        .where('team', '=', 'odd')
        .where('phase', '=', 'triage')
        .execute()
    )
      .map((r) => Date.parse(r.phase_since))
      .sort((a, b) => a - b);
    const mid = since[(since.length - 1) >> 1]!;
    const days = (Date.now() - mid) / 86_400_000;
    const triage = odd.json.columns.find((c: { phase: string }) => c.phase === 'triage');
    assert.ok(Math.abs(triage.median_age_days - days) < 0.2, `${triage.median_age_days} vs ${days}`);
    assert.equal(triage.wip, 11);
    const heat = await f.call('GET', '/api/portfolio/heatmap', viewer);
    assert.ok(
      heat.json.cells.some((c: { team: string; count: number }) => c.team === 'even' && c.count === 12),
    );
  });

  it('streams events with id = gseq and resumes from Last-Event-ID without loss or duplicates', async () => {
    const start = Number(
      (
        await f.store.db
          .selectFrom('events')
          .select((eb) => eb.fn.max('gseq').as('g'))
          .executeTakeFirst()
      )?.g,
    );
    // Writes keep landing while the client reads, drops the connection and comes back.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 60; i++) {
        await f.engine.setMetric('fraud', 'auc', i / 100, { actor: 'lab-1' });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const url = `${f.base}/api/stream`;
    const first = await readSse(
      url,
      { authorization: `Bearer ${viewer}`, 'last-event-id': String(start) },
      (es) => es.filter((e) => e.event === 'event').length >= 10,
    );
    const got = first.filter((e) => e.event === 'event');
    const lastId = got[got.length - 1]!.id!;
    const second = await readSse(
      url,
      { authorization: `Bearer ${viewer}`, 'last-event-id': lastId },
      (es) => es.filter((e) => e.event === 'event').length >= 15,
    );
    writing = false;
    await writer;
    const ids = [...got, ...second.filter((e) => e.event === 'event')].map((e) => Number(e.id));
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    const stored = (
      await f.store.db
        .selectFrom('events')
        .select('gseq')
        .where('gseq', '>', start)
        .where('gseq', '<=', ids[ids.length - 1]!)
        .orderBy('gseq')
        .execute()
    ).map((r) => r.gseq);
    assert.deepEqual(ids, stored, 'every committed event, in commit order');
    const data = JSON.parse(got[0]!.data);
    assert.equal(data.gseq, ids[0]);
    assert.equal(data.type, 'metric.recorded');
    const bad = await f.call('GET', '/api/stream', viewer, undefined, { 'last-event-id': 'abc' });
    assert.equal(bad.status, 400);
  });
});

describeOnBackends('GET /api/value', () => {
  const START = Date.parse('2026-01-05T00:00:00Z');
  const AT = new Date(START + 60 * DAY).toISOString();
  let f: Served;
  let planned: PlannedProject[] = [];
  before(async () => {
    f = await servedStore();
    const flow = join(ROOT, 'test', 'fixtures', 'flow.yaml');
    const train = parseTrain(readFileSync(flow, 'utf8'), flow);
    planned = await generateHistory(f.store, train, f.dir, {
      projects: 40,
      seed: 7,
      start: START,
      span: 60 * DAY,
      now: Date.parse(AT),
      lanes: 4,
    });
  });
  after(async () => {
    await f.server.close();
    await f.store.close();
    rmSync(f.dir, { recursive: true, force: true });
  });

  it('serves the library value report for the portfolio, a team and a project, as of a time', async () => {
    const viewer = await f.token('vera', { role: 'viewer', project: '*' });
    const now = new Date(AT);
    const portfolio = await f.call('GET', `/api/value?at=${encodeURIComponent(AT)}`, viewer);
    assert.equal(portfolio.status, 200, portfolio.text);
    assert.deepEqual(portfolio.json, await valueReport(f.store.db, { now }));
    assert.equal(portfolio.json.projects.total, 40);
    assert.ok(portfolio.json.lead_time.phases.some((p: { visits: number }) => p.visits > 0));
    const team = await f.call('GET', `/api/value?team=beta&at=${AT}`, viewer);
    assert.equal(team.status, 200, team.text);
    assert.deepEqual(team.json.scope, { kind: 'team', team: 'beta', project: null });
    assert.deepEqual(team.json, await valueReport(f.store.db, { team: 'beta', now }));
    assert.equal(team.json.projects.total, planned.filter((p) => p.team === 'beta').length);
    const id = planned.find((p) => p.team === 'alpha')!.id;
    const one = await f.call('GET', `/api/value?project=${id}&at=${AT}`, viewer);
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json.scope, { kind: 'project', team: 'alpha', project: id });
    assert.deepEqual(one.json, await valueReport(f.store.db, { project: id, now }));
    // Without `at`, the report is as of now: every event so far counts.
    const live = await f.call('GET', '/api/value', viewer);
    assert.equal(live.status, 200);
    assert.equal(live.json.events, portfolio.json.events);
    assert.ok(Date.parse(live.json.generated_at) > Date.parse(AT));
  });

  it("a token for one project reads that project's report only; bad scopes get clear errors and change nothing", async () => {
    const id = planned[0]!.id;
    const scoped = await f.token('sam', { role: 'viewer', project: id });
    assert.equal((await f.call('GET', `/api/value?project=${id}`, scoped)).status, 200);
    const other = planned.find((p) => p.id !== id)!.id;
    for (const q of [`?project=${other}`, '', '?team=beta'])
      assert.equal((await f.call('GET', `/api/value${q}`, scoped)).status, 403, q);
    assert.equal((await f.call('GET', '/api/value', null)).status, 401);
    const viewer = await f.token('vera', { role: 'viewer', project: '*' });
    const before = await snapshot(f);
    for (const [q, status, code] of [
      ['?team=nobody', 404, 'NOT_FOUND'],
      ['?project=nope', 404, 'NOT_FOUND'],
      [`?project=${id}&team=beta`, 400, 'USAGE'],
      ['?project=Not%20An%20Id', 400, 'BAD_INPUT'],
      ['?at=yesterday', 400, 'BAD_INPUT'],
      ['?at=2026-13-45', 400, 'BAD_INPUT'],
      ['?team=', 400, 'BAD_INPUT'],
      ['?window=3', 400, 'BAD_INPUT'],
    ] as const) {
      const res = await f.call('GET', `/api/value${q}`, viewer);
      assert.equal(res.status, status, `${q}: ${res.text}`);
      assert.equal(res.json.error.code, code, q);
    }
    const hint = await f.call('GET', '/api/value?team=nobody', viewer);
    assert.match(hint.json.error.hint, /Teams: .*beta/);
    assert.deepEqual(await snapshot(f), before);
  });
});

describeOnBackends('passkey policy and confirmations', () => {
  it('with --passkeys required a decision without a confirmation is refused and writes nothing', async () => {
    const f = await servedStore({ passkeys: 'required' });
    try {
      await triageAwaitingApproval(f, 'churn');
      const t = await f.token('lead-2', { role: 'approver', project: '*' });
      const before = await snapshot(f);
      const r = await f.call('POST', '/api/projects/churn/approve', t, {});
      assert.equal(r.status, 403);
      assert.match(r.json.error.message, /confirmed with a passkey/);
      const forged = await f.call(
        'POST',
        '/api/projects/churn/approve',
        t,
        {
          confirmation: {
            challenge_id: 'made-up',
            response: { id: 'x', rawId: 'x', type: 'public-key', response: {} },
          },
        },
        { origin: `http://localhost:${f.server.port}` },
      );
      assert.equal(forged.status, 409);
      assert.match(forged.json.error.message, /unknown, used or expired/);
      const noKey = await f.call(
        'POST',
        '/api/projects/churn/confirm',
        t,
        { decision: 'approve' },
        { origin: `http://localhost:${f.server.port}` },
      );
      assert.equal(noKey.status, 409);
      assert.match(noKey.json.error.message, /has no passkey/);
      const ipOrigin = await f.call('POST', '/api/passkeys/options', t, undefined, {
        origin: `http://127.0.0.1:${f.server.port}`,
      });
      assert.equal(ipOrigin.status, 400);
      assert.match(ipOrigin.json.error.hint, /localhost/);
      assert.deepEqual(await snapshot(f), before);
    } finally {
      await f.server.close();
      await f.store.close();
      rmSync(f.dir, { recursive: true, force: true });
    }
  });

  it('a passkey signs a decision once its owner binds it with their SSH key; the engine checks the assertion', async () => {
    const keyDir = tempDir('vt-api-keys-');
    const keys = makeKeys(keyDir);
    const f = await servedStore({ trainText: signedTrainText(keys) });
    try {
      await triageAwaitingApproval(f, 'churn');
      const origin = `http://localhost:${f.server.port}`;
      const t = await f.token('lead-2', { role: 'approver', project: '*' });
      const o = { origin };
      // The train requires signed decisions: an unsigned approval is refused by the engine.
      const unsigned = await f.call('POST', '/api/projects/churn/approve', t, {});
      assert.equal(unsigned.status, 403);
      assert.match(unsigned.json.error.message, /not signed, and train mini requires signed decisions/);
      // Register a passkey (a software authenticator answers the browser's part).
      const pk = new SoftPasskey();
      const options = await f.call('POST', '/api/passkeys/options', t, undefined, o);
      assert.equal(options.status, 200, options.text);
      const reg = await f.call(
        'POST',
        '/api/passkeys',
        t,
        { response: pk.register(options.json, origin) },
        o,
      );
      assert.equal(reg.status, 200, reg.text);
      // Not bound yet: it signs nothing, and the error says how to bind it.
      const early = await f.call('POST', '/api/projects/churn/confirm', t, { decision: 'approve' }, o);
      assert.equal(early.status, 409);
      assert.match(early.json.error.hint, /vt keys passkey bind/);
      // A binding made by someone else's key (written into the store directly) does not make it lead-2's.
      const { saveBinding } = await import('../src/store/passkey-bindings.ts');
      const { signPasskeyBinding } = await import('../src/identity/passkey-binding.ts');
      const { keySigner } = await import('../src/identity/keys.ts');
      const { loadKeyFile } = await import('../src/identity/vt-keys.ts');
      const forged = await signPasskeyBinding(
        {
          person: 'lead-2',
          credential_id: pk.credentialId,
          public_key: pk.publicKey,
          rp_id: 'localhost',
          time: new Date(),
        },
        keySigner(loadKeyFile(keys.lead1!), 'file', keys.lead1!),
      );
      await f.store.transaction((trx) =>
        saveBinding(trx, {
          credential_id: pk.credentialId,
          person: 'lead-2',
          rp_id: 'localhost',
          binding: JSON.stringify(forged),
          created_at: new Date().toISOString(),
        }),
      );
      const before = await snapshot(f);
      const approveWith = async (
        decision = 'approve',
        route = 'approve',
        body: Record<string, unknown> = {},
      ) => {
        const ch = await f.call('POST', '/api/projects/churn/confirm', t, { decision, ...body }, o);
        assert.equal(ch.status, 200, ch.text);
        const response = pk.assert(ch.json.options.challenge, origin);
        return f.call(
          'POST',
          `/api/projects/churn/${route}`,
          t,
          { ...body, confirmation: { challenge_id: ch.json.challenge_id, response } },
          o,
        );
      };
      const byLead1 = await approveWith();
      assert.equal(byLead1.status, 403, byLead1.text);
      assert.match(
        byLead1.json.error.message,
        /passkey binding: key .* is listed for lead-1, not for lead-2/,
      );
      assert.deepEqual(await snapshot(f), before, 'nothing written');
      // lead-2 binds it from the shell with the key the train lists for them.
      const bind = await runVt(['--as', 'lead-2', 'keys', 'passkey', 'bind', '--key', keys.lead2!], {
        cwd: f.dir,
        env: { SSH_AUTH_SOCK: '', XDG_CONFIG_HOME: keyDir },
      });
      assert.equal(bind.code, 0, bind.stderr);
      assert.match(bind.stderr, new RegExp(`bound passkey ${pk.credentialId} to lead-2`));
      const listed = await runVt(['--as', 'lead-2', 'keys', 'passkey', 'list', '--json'], { cwd: f.dir });
      assert.equal(JSON.parse(listed.stdout)[0].bound, true);
      // A confirmation of an approval does not serve as a rejection.
      const asReject = await (async () => {
        const ch = await f.call('POST', '/api/projects/churn/confirm', t, { decision: 'approve' }, o);
        const response = pk.assert(ch.json.options.challenge, origin);
        return f.call(
          'POST',
          '/api/projects/churn/reject',
          t,
          { reason: 'no', confirmation: { challenge_id: ch.json.challenge_id, response } },
          o,
        );
      })();
      assert.equal(asReject.status, 403, asReject.text);
      assert.match(asReject.json.error.message, /another decision/);
      // Evidence that changes between the confirmation and the decision makes it stale.
      const ch = await f.call('POST', '/api/projects/churn/confirm', t, { decision: 'approve' }, o);
      const response = pk.assert(ch.json.options.challenge, origin);
      await f.engine.tick('churn', 'extra', null, { actor: 'lab-1' });
      const stale = await f.call(
        'POST',
        '/api/projects/churn/approve',
        t,
        { confirmation: { challenge_id: ch.json.challenge_id, response } },
        o,
      );
      assert.equal(stale.status, 409, stale.text);
      assert.match(stale.json.error.message, /stale evidence/);
      // Now it counts: the engine checked the binding and the assertion, and recorded both.
      const ok = await approveWith();
      assert.equal(ok.status, 200, ok.text);
      const ev = (await f.engine.state('churn')).approvals.at(-1)!;
      assert.equal(ev.actor, 'lead-2');
      assert.equal(ev.proof?.method, 'webauthn');
      assert.equal(ev.proof?.method === 'webauthn' && ev.proof.passkey.payload.person, 'lead-2');
      const audit = await runVt(['audit', 'verify', '--json'], { cwd: f.dir });
      assert.equal(audit.code, 0, audit.stderr);
      assert.deepEqual(JSON.parse(audit.stdout).decisions.problems, []);
      assert.equal(JSON.parse(audit.stdout).decisions.signed, 1);
      // The same assertion under a new payload (a replay dressed as a fresh decision) is refused by the engine.
      const again = await f.engine.decisionPayload('churn', 'lead-2', { kind: 'approve', reason: null });
      const fake = { ...ev.proof!, payload: again };
      await assert.rejects(
        f.engine.approve('churn', { actor: 'lead-2' }, { proof: fake }),
        /signature is refused: bad signature \(the passkey signed another challenge/,
      );
    } finally {
      await f.server.close();
      await f.store.close();
      rmSync(f.dir, { recursive: true, force: true });
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});

describeOnBackends('vt serve', () => {
  it('prints its URL when listening, answers, and stops on SIGTERM', async () => {
    const dir = tempDir();
    try {
      cpSync(MINI, join(dir, 'vt.yaml'));
      const help = await runVt(['serve', '--help'], { cwd: dir });
      assert.match(help.stdout, /Examples:[\s\S]*vt serve/);
      const p = spawnCollect([VT_BIN, 'serve', '--port', '0', '--json', '--no-dashboard'], {
        cwd: dir,
        env: { NO_COLOR: '1', ...(await backendEnv(dir)) },
      });
      await p.waitFor((out) => out.includes('"url"'), 60_000);
      const { port } = JSON.parse(p.out());
      const res = await fetch(`http://127.0.0.1:${port}/api/health`);
      assert.equal(res.status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404, 'no dashboard: the API alone');
      p.child.kill('SIGTERM');
      assert.equal((await p.done).code, 0);
      const bad = await runVt(['serve', '--port', '70000'], { cwd: dir });
      assert.equal(bad.code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeOnBackends('vt token', () => {
  it('shows a token once, stores only its sha256, lists and revokes by id, refuses a secret as an argument', async () => {
    const dir = tempDir();
    try {
      cpSync(MINI, join(dir, 'vt.yaml'));
      const made = await runVt(
        ['token', 'create', '--person', 'ana', '--grant', 'approver', 'viewer:churn', '--json'],
        { cwd: dir },
      );
      assert.equal(made.code, 0, made.stderr);
      const { id, token } = JSON.parse(made.stdout);
      assert.match(token, /^vt_[\w-]{40,}$/);
      const list = await runVt(['token', 'list', '--json'], { cwd: dir });
      assert.ok(!list.stdout.includes(token));
      assert.deepEqual(
        JSON.parse(list.stdout)[0]
          .grants.map((g: { role: string; project: string }) => `${g.role}:${g.project}`)
          .sort(),
        ['approver:*', 'viewer:churn'],
      );
      const held = await storeContents(await folderStore(dir));
      assert.ok(held.length > 0);
      for (const [where, bytes] of held) assert.ok(!bytes.includes(token), `${where} holds no secret`);
      const bad = await runVt(['token', 'create', '--person', 'ana', '--grant', 'boss'], { cwd: dir });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /not a grant/);
      const asSecret = await runVt(['token', 'revoke', token], { cwd: dir });
      assert.equal(asSecret.code, 2);
      assert.ok(!asSecret.stderr.includes(token));
      assert.equal((await runVt(['token', 'revoke', id], { cwd: dir })).code, 0);
      assert.match((await runVt(['token', 'list'], { cwd: dir })).stdout, /revoked/);
      assert.equal((await runVt(['token', 'revoke', 'tnope'], { cwd: dir })).code, 2);
      writeFile(dir, 'x.txt', '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
