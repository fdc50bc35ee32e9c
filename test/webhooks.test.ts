// Webhook notifications: Standard Webhooks signatures (the published test vector, and the official
// `standardwebhooks` library as the receiver's verifier), outbox rows in the events' own transaction,
// retries with backoff through a receiver that is down, a vt restart and a SIGKILLed deliverer, and a
// dead receiver that never holds up a transition. Real SQLite, real HTTP on 127.0.0.1, real processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { Engine } from '../src/engine/engine.ts';
import { event } from '../src/engine/events.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { VtError } from '../src/errors.ts';
import { type Endpoint, loadIntegrations } from '../src/integrations/config.ts';
import { attemptsOf, GAVE_UP_AT, rowsOfKind } from '../src/integrations/outbox-store.ts';
import { registerIntegrations } from '../src/integrations/register.ts';
import {
  BACKOFF_S,
  deliverWebhooks,
  MAX_ATTEMPTS,
  webhookBackoffMs,
} from '../src/integrations/webhooks/deliver.ts';
import { mrkdwn, renderMessage } from '../src/integrations/webhooks/message.ts';
import { WEBHOOK_KIND, type WebhookPayload } from '../src/integrations/webhooks/notification.ts';
import { newSecret, secretKey, sign, signedHeaders, verify } from '../src/integrations/webhooks/sign.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { WebhookReceiver } from './fixtures/webhook-receiver.ts';
import { autoTrainYaml, folderStore, ROOT, runVt, TestClock, tempDir } from './helpers.ts';
import { describeOnBackends, storeContents } from './pg.ts';

const SECRET = newSecret();
const TRAIN = `version: 1
name: hooks
roles:
  - { id: ops, name: Ops }
  - { id: evaluator, name: Evaluator }
  - { id: improver, name: Improver }
people:
  erin: [evaluator]
  eve: [evaluator]
  olga: [ops]
metrics:
  - { id: psi }
  - { id: auc }
phases:
  - id: validation
    name: Validation
    stage: delivery
    owner: evaluator
    metrics: [auc]
    gates:
      exit:
        - { id: quality, kind: metric, expr: "auc >= 0.8" }
        - { id: sign-off, kind: approval, role: evaluator }
    next: monitoring
  - id: monitoring
    name: Monitoring
    stage: operations
    owner: ops
    metrics: [psi]
    routes: [{ when: "psi > 0.2", to: improvement, reason: drift above threshold }]
    next: null
  - id: improvement
    name: Improvement
    stage: operations
    owner: improver
    next: null
`;

const stores: Store[] = [];
const receivers: WebhookReceiver[] = [];
const dirs: string[] = [];
/** A temp folder removed when the tests end. */
function scratch(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}
after(async () => {
  for (const s of stores) await s.close().catch(() => {});
  for (const r of receivers) await r.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function endpoint(id: string, url: () => string, events: string[] | null = null, secret = SECRET): Endpoint {
  return { id, events, url, secret: () => secret, describe: id };
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver(SECRET).start();
  receivers.push(r);
  return r;
}

async function world(endpoints: Endpoint[], opts: { dir?: string; budget?: number; drift?: string[] } = {}) {
  const dir = opts.dir ?? scratch('vt-hooks-');
  const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
  stores.push(store);
  const clock = new TestClock();
  const engine = new Engine({ store, io: nodeIo, clock });
  registerIntegrations(engine, {
    endpoints,
    drift: opts.drift ?? ['psi > 0.2'],
    budgetWarnAt: 0.8,
    mlflow: { trackingUri: null, guard: [] },
  });
  if (!opts.dir)
    await engine.createProject(
      { id: 'churn', name: 'Churn', workspace: dir, budget: opts.budget ?? null, train: parseTrain(TRAIN) },
      { actor: 'alice' },
    );
  return { dir, store, engine, tickets: new Tickets(engine), clock };
}

/** Walk the hooks train: a failed gate, an approval wait, a declared-threshold drift and a drift route. */
async function walk(engine: Engine) {
  await engine.setMetric('churn', 'auc', 0.7, { actor: 'erin' });
  await engine.advance('churn', { actor: 'alice' }); // quality fails: gate-failed
  await engine.setMetric('churn', 'auc', 0.9, { actor: 'erin' });
  await engine.advance('churn', { actor: 'alice' }); // only the approval is missing: approval-needed
  await engine.approve('churn', { actor: 'eve' }, { role: 'evaluator' });
  await engine.advance('churn', { actor: 'alice' }); // -> monitoring
  await engine.setMetric('churn', 'psi', 0.31, { actor: 'olga' }); // drift by the declared threshold
  await engine.advance('churn', { actor: 'alice' }); // routed into improvement: drift by route
}

const payloads = async (store: Store) =>
  (await rowsOfKind(store.db, WEBHOOK_KIND, 1000))
    .reverse()
    .map((r) => ({ id: r.id, ...(JSON.parse(r.payload) as WebhookPayload) }));

describe('signatures (Standard Webhooks)', () => {
  it('matches the published test vector', () => {
    assert.equal(
      sign(
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'msg_p5jXN8AQM9LWM0D4loKWxJek',
        1614265330,
        '{"test": 2432232314}',
      ),
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('verifies with the shared secret, in vt and in the official library; a replay or any change fails', () => {
    const body = JSON.stringify({ text: 'hello', n: 1 });
    const now = new Date();
    const h = signedHeaders(SECRET, 'churn:0000000007:webhook:ops', now, body);
    assert.deepEqual(verify(SECRET, h, body), {
      ok: true,
      id: 'churn:0000000007:webhook:ops',
      timestamp: Math.floor(now.getTime() / 1000),
    });
    new Webhook(SECRET).verify(body, h); // throws if invalid

    const official = (headers: Record<string, string>, b = body) => {
      try {
        new Webhook(SECRET).verify(b, headers);
        return true;
      } catch {
        return false;
      }
    };
    // A delivery captured and replayed six minutes later.
    const old = signedHeaders(SECRET, 'x', new Date(now.getTime() - 6 * 60_000), body);
    assert.match((verify(SECRET, old, body) as { reason: string }).reason, /too old/);
    assert.equal(official(old), false);
    // Altered body, id, timestamp or secret.
    assert.equal(verify(SECRET, h, body.replace('hello', 'hellp')).ok, false);
    assert.equal(official(h, body.replace('hello', 'hellp')), false);
    assert.equal(verify(SECRET, { ...h, 'webhook-id': 'other' }, body).ok, false);
    const ts = String(Number(h['webhook-timestamp']) + 1);
    assert.equal(verify(SECRET, { ...h, 'webhook-timestamp': ts }, body).ok, false);
    assert.equal(official({ ...h, 'webhook-timestamp': ts }), false);
    assert.equal(verify(newSecret(), h, body).ok, false);
    assert.equal(verify(SECRET, { ...h, 'webhook-signature': '' }, body).ok, false);
    // Several signatures (a secret being rotated): one match is enough.
    const both = `v1,${Buffer.alloc(32).toString('base64')} ${h['webhook-signature']}`;
    assert.equal(verify(SECRET, { ...h, 'webhook-signature': both }, body).ok, true);
  });

  it('refuses secrets that are too short or not base64', () => {
    assert.equal(secretKey(SECRET).length, 32);
    for (const bad of ['whsec_c2hvcnQ=', 'not base64 at all!', ''])
      assert.throws(
        () => secretKey(bad),
        (e: unknown) => e instanceof VtError && e.code === 'BAD_INPUT',
      );
  });
});

describeOnBackends('the outbox rule', () => {
  it('turns events into one row per notification and subscribed endpoint, in the same transaction', async () => {
    const w = await world([
      endpoint('ops', () => 'http://127.0.0.1:1/'),
      endpoint('pager', () => 'http://127.0.0.1:1/', ['ticket-blocked']),
    ]);
    await walk(w.engine);
    const rows = await payloads(w.store);
    assert.deepEqual(
      rows.map((r) => `${r.endpoint}:${r.notification.type}`),
      ['ops:gate-failed', 'ops:approval-needed', 'ops:drift-detected', 'ops:drift-detected'],
    );
    const approval = rows[1]!.notification;
    assert.equal(approval.type, 'approval-needed');
    if (approval.type === 'approval-needed') {
      assert.deepEqual(
        approval.gates.map((g) => g.role),
        ['evaluator'],
      );
      assert.deepEqual(approval.contributors, ['erin']);
    }
    assert.deepEqual(
      rows.slice(2).map((r) => (r.notification.type === 'drift-detected' ? r.notification.source : '')),
      ['threshold', 'route'],
    );
    // Every row's id names the event that caused it, and that event is in the log.
    for (const r of rows) {
      const seq = Number(r.id.split(':')[1]);
      const e = await w.store.db
        .selectFrom('events')
        .select('type')
        .where('project_id', '=', 'churn')
        .where('seq', '=', seq)
        .executeTakeFirst();
      assert.ok(e, `event ${seq} for ${r.id}`);
    }
  });

  it('a commit that fails writes neither its events nor their rows; a retried command adds no second row', async () => {
    const w = await world([endpoint('ops', () => 'http://127.0.0.1:1/')]);
    const before = (await w.engine.state('churn')).seq;
    await assert.rejects(
      w.engine.decide(
        'churn',
        { actor: 'alice' },
        () => [
          event('project.held', { reason: 'x' }),
          event('metric.recorded', { phase: 'validation', visit: 1, name: 'psi', value: 0.9 }),
        ],
        async () => {
          throw new Error('the disk is full');
        },
      ),
      /the disk is full/,
    );
    assert.equal((await w.engine.state('churn')).seq, before);
    assert.deepEqual(await payloads(w.store), [], 'the drift row rolled back with its event');
    for (let i = 0; i < 2; i++)
      await w.engine.setMetric('churn', 'psi', 0.5, { actor: 'olga', idempotencyKey: 'psi-once' });
    assert.equal((await payloads(w.store)).length, 1);
  });

  it('a blocked ticket and a session that crosses 80% of the budget notify; the next session does not', async () => {
    const r = await receiver();
    const w = await world([endpoint('ops', () => r.url)], { budget: 10 });
    const { tickets, engine } = w;
    await tickets.addIssue('churn', { title: 'Validate' }, { actor: 'alice' });
    const who = { actor: 'autopilot' };
    for (const cost of [5, 4, 1]) {
      const claim = (await tickets.claimNext('w1', { leaseMs: 60_000 }))!;
      const session = await tickets.startSession(claim, {
        role: 'evaluator',
        executor: 'llm',
        workspace: w.dir,
        log: 'x',
        actor: 'agent:evaluator',
      });
      await tickets.endSession(
        'churn',
        session,
        { outcome: 'failed', exitCode: 1, summary: null, tokensIn: 1, tokensOut: 1, cost },
        { actor: 'agent:evaluator' },
      );
      await tickets.failAttempt(claim, 'the model server timed out', who, 0);
    }
    assert.equal(Object.values((await engine.state('churn')).tickets)[0]!.status, 'blocked');
    const res = await deliverWebhooks({
      store: w.store,
      endpoints: [endpoint('ops', () => r.url)],
      now: new Date(),
    });
    assert.deepEqual(res, { delivered: 2, failed: 0, gaveUp: 0, skipped: 2 });
    const bodies = r.received.map((x) => JSON.parse(x.body) as { text: string; vt: { type: string } });
    assert.deepEqual(bodies.map((b) => b.vt.type).sort(), ['budget-nearly-spent', 'ticket-blocked']);
    const budget = bodies.find((b) => b.vt.type === 'budget-nearly-spent')!;
    assert.match(budget.text, /cost \$9\.00 of its \$10\.00 budget \(90%, warning at 80%\)/);
    const blocked = bodies.find((b) => b.vt.type === 'ticket-blocked')!;
    assert.match(blocked.text, /blocked after 3 failed attempts\. Reason: the model server timed out/);
  });
});

describeOnBackends('delivery', () => {
  it('sends Slack-compatible bodies that the receiver verifies with the shared secret', async () => {
    const r = await receiver();
    const w = await world([endpoint('ops', () => r.url)]);
    await walk(w.engine);
    const res = await deliverWebhooks({
      store: w.store,
      endpoints: [endpoint('ops', () => r.url)],
      now: new Date(),
    });
    assert.equal(res.delivered, 4);
    assert.equal(r.received.length, 4);
    assert.ok(
      r.received.every((x) => x.verified),
      r.received.map((x) => x.error).join('; '),
    );
    const msgs = r.received.map(
      (x) =>
        JSON.parse(x.body) as {
          text: string;
          blocks: { type: string; text?: { text: string } }[];
          vt: { type: string; id: string };
        },
    );
    for (const [i, m] of msgs.entries()) {
      assert.equal(typeof m.text, 'string');
      assert.deepEqual(
        m.blocks.map((b) => b.type),
        ['header', 'section', 'context'],
      );
      assert.equal(m.vt.id, r.received[i]!.id, 'the body names its webhook-id');
    }
    const approval = msgs.find((m) => m.vt.type === 'approval-needed')!;
    assert.match(
      approval.blocks[1]!.text!.text,
      /May approve: eve\./,
      'people with the role who did not work in the visit',
    );
    assert.match(approval.blocks[1]!.text!.text, /may not approve\): erin/);
    assert.equal(
      (await deliverWebhooks({ store: w.store, endpoints: [endpoint('ops', () => r.url)], now: new Date() }))
        .delivered,
      0,
      'each row once',
    );
  });

  it('backs off 5 s, 30 s, 2 min... and gives up after the last attempt, every attempt with the same webhook-id', async () => {
    assert.deepEqual(
      [1, 2, 3, 11, 12, 40].map(webhookBackoffMs),
      [5000, 30_000, 120_000, 43_200_000, 43_200_000, 43_200_000],
    );
    assert.equal(MAX_ATTEMPTS, BACKOFF_S.length + 1);
    const r = await receiver();
    r.mode = 'error';
    const w = await world([endpoint('ops', () => r.url)]);
    await w.engine.setMetric('churn', 'psi', 0.5, { actor: 'olga' });
    const [row] = await rowsOfKind(w.store.db, WEBHOOK_KIND, 1);
    let now = Date.now();
    for (let i = 1; i <= MAX_ATTEMPTS; i++) {
      const res = await deliverWebhooks({
        store: w.store,
        endpoints: [endpoint('ops', () => r.url)],
        now: new Date(now),
      });
      assert.equal(i < MAX_ATTEMPTS ? res.failed : res.gaveUp, 1, `attempt ${i}`);
      const [after] = await rowsOfKind(w.store.db, WEBHOOK_KIND, 1);
      if (i < MAX_ATTEMPTS) assert.equal(Date.parse(after!.next_at) - now, webhookBackoffMs(i));
      else assert.equal(after!.next_at, GAVE_UP_AT);
      now += webhookBackoffMs(i);
    }
    assert.equal(r.received.length, MAX_ATTEMPTS);
    assert.deepEqual([...new Set(r.received.map((x) => x.id))], [row!.id]);
    assert.equal(
      new Set(r.received.map((x) => x.signature)).size,
      MAX_ATTEMPTS,
      'each attempt signed afresh',
    );
    const attempts = await attemptsOf(w.store.db, row!.id);
    assert.deepEqual(
      attempts.map((a) => a.outcome),
      [...Array(MAX_ATTEMPTS - 1).fill('failed'), 'gave-up'],
    );
    assert.ok(attempts.every((a) => a.http_status === 500));
  });

  it('a dead endpoint costs one attempt per run, not one per pending row, and holds up no other endpoint', async () => {
    const r = await receiver();
    const dead = await receiver();
    const deadUrl = dead.url;
    await dead.stop();
    const eps = [endpoint('ops', () => r.url), endpoint('dead', () => deadUrl)];
    const w = await world(eps);
    for (let i = 0; i < 6; i++) await w.engine.setMetric('churn', 'psi', 0.3 + i / 100, { actor: 'olga' });
    const res = await deliverWebhooks({
      store: w.store,
      endpoints: eps,
      now: new Date(),
      concurrency: 1,
      backoffMs: () => 0,
    });
    assert.deepEqual(res, { delivered: 6, failed: 1, gaveUp: 0, skipped: 0 });
    assert.equal(r.received.length, 6);
    // A 4xx is the row's problem, not the endpoint's: the next rows are still tried.
    const picky = await receiver();
    const wrongSecret = [endpoint('picky', () => picky.url, null, newSecret())]; // the receiver answers 401
    const w2 = await world(wrongSecret);
    for (let i = 0; i < 3; i++) await w2.engine.setMetric('churn', 'psi', 0.3 + i / 100, { actor: 'olga' });
    const res2 = await deliverWebhooks({
      store: w2.store,
      endpoints: wrongSecret,
      now: new Date(),
      concurrency: 1,
    });
    assert.deepEqual(res2, { delivered: 0, failed: 3, gaveUp: 0, skipped: 0 });
    assert.ok(picky.received.every((x) => !x.verified));
  });

  it('survives a receiver that is down for a while and a restart of vt: every notification arrives, once', async () => {
    const r = await receiver();
    const url = r.url;
    await r.stop(); // down before anything is sent
    const first = await world([endpoint('ops', () => url)]);
    await walk(first.engine);
    const fast = () => 1;
    for (let i = 0; i < 3; i++) {
      const res = await deliverWebhooks({
        store: first.store,
        endpoints: [endpoint('ops', () => url)],
        now: new Date(),
        backoffMs: fast,
      });
      assert.equal(res.failed, 1, 'one attempt finds the receiver down; the other rows wait');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await first.store.close(); // vt stops
    stores.splice(stores.indexOf(first.store), 1);
    await r.start(); // the receiver comes back, on the same port
    const again = await world([endpoint('ops', () => url)], { dir: first.dir }); // vt starts again
    const res = await deliverWebhooks({
      store: again.store,
      endpoints: [endpoint('ops', () => url)],
      now: new Date(),
      backoffMs: fast,
    });
    assert.equal(res.delivered, 4);
    assert.equal(r.received.length, 4);
    assert.equal(new Set(r.received.map((x) => x.id)).size, 4, 'no duplicates');
    assert.ok(r.received.every((x) => x.verified));
    const rows = await rowsOfKind(again.store.db, WEBHOOK_KIND, 10);
    assert.ok(rows.every((x) => x.delivered_at));
    assert.deepEqual(rows.map((x) => x.attempts).sort(), [1, 1, 1, 4], 'the probing row took 4 tries');
  });

  it('a deliverer SIGKILLed mid-send leaves the row to the next one, which sends it with the same id', async () => {
    const r = await receiver();
    r.mode = 'hang';
    const w = await world([endpoint('ops', () => r.url)]);
    await w.engine.setMetric('churn', 'psi', 0.5, { actor: 'olga' });
    await w.store.close();
    stores.splice(stores.indexOf(w.store), 1);
    const secretFile = join(w.dir, 'secret');
    writeFileSync(secretFile, SECRET);
    const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'deliver-once.ts')], {
      env: { ...process.env, DB: await folderStore(w.dir), URL: r.url, SECRET_FILE: secretFile },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await r.waitFor(1, 60_000); // the request is in flight
    child.kill('SIGKILL');
    await exited;
    r.mode = 'ok';
    const again = await world([endpoint('ops', () => r.url)], { dir: w.dir });
    const soon = await deliverWebhooks({
      store: again.store,
      endpoints: [endpoint('ops', () => r.url)],
      now: new Date(),
    });
    assert.equal(soon.delivered, 0, 'hidden while the dead deliverer might still be sending');
    // Past the sending window the row is due again; the receiver checks timestamps against its clock,
    // so its verification is not asked of this shifted attempt (vt's verify is given the same clock).
    const later = new Date(Date.now() + 61_000);
    const res = await deliverWebhooks({
      store: again.store,
      endpoints: [endpoint('ops', () => r.url)],
      now: later,
    });
    assert.equal(res.delivered, 1);
    assert.equal(r.received.length, 2);
    assert.equal(r.received[0]!.id, r.received[1]!.id, 'the same webhook-id: receivers drop the repeat');
    assert.equal(verify(SECRET, r.received[1]!.headers, r.received[1]!.body, { now: later }).ok, true);
  });

  it('a dead receiver never holds up a transition: events commit while its delivery hangs', async () => {
    const r = await receiver();
    r.mode = 'hang';
    const w = await world([endpoint('ops', () => r.url)]);
    await w.engine.setMetric('churn', 'psi', 0.5, { actor: 'olga' });
    let settled = false;
    const inFlight = deliverWebhooks({
      store: w.store,
      endpoints: [endpoint('ops', () => r.url)],
      now: new Date(),
      timeoutMs: 120_000,
    }).finally(() => {
      settled = true;
    });
    await r.waitFor(1, 60_000);
    await walk(w.engine); // eight commands, four more notifications
    assert.equal((await w.engine.state('churn')).phase, 'improvement');
    assert.equal(settled, false, 'every transition committed while the delivery was still waiting');
    assert.equal((await payloads(w.store)).length, 5);
    await r.stop(); // the receiver dies: the hanging delivery fails and is retried later
    const res = await inFlight;
    assert.equal(res.failed, 1);
  });
});

describeOnBackends('secrets and configuration', () => {
  it('reads endpoints from vt.yaml and the environment; URL and secret never reach the store', async () => {
    const dir = scratch('vt-hooks-cfg-');
    const r = await receiver();
    const token = 'T0KEN-in-the-url-6f1d2a';
    writeFileSync(join(dir, 'hook.secret'), `${SECRET}\n`);
    writeFileSync(
      join(dir, 'vt.yaml'),
      `${TRAIN}integrations:\n  webhooks:\n    - { id: ops, url_env: OPS_HOOK_URL, secret_file: hook.secret }\n  notifications:\n    drift: ["psi > 0.2"]\n`,
    );
    const env = { OPS_HOOK_URL: `${r.url}?token=${token}` };
    const cfg = await loadIntegrations(dir, env);
    assert.deepEqual(
      cfg.endpoints.map((e) => [e.id, e.describe]),
      [['ops', '$OPS_HOOK_URL']],
    );
    assert.deepEqual(cfg.drift, ['psi > 0.2']);
    const withEnv = await loadIntegrations(dir, { ...env, VT_WEBHOOK_URL: r.url, VT_WEBHOOK_SECRET: SECRET });
    assert.deepEqual(
      withEnv.endpoints.map((e) => e.id),
      ['ops', 'env'],
    );
    const w = await world(cfg.endpoints, { dir });
    await w.engine.createProject(
      { id: 'churn', name: 'Churn', workspace: dir, train: parseTrain(TRAIN) },
      { actor: 'alice' },
    );
    await walk(w.engine);
    r.mode = 'error';
    await deliverWebhooks({ store: w.store, endpoints: cfg.endpoints, now: new Date() });
    assert.ok(r.received.length >= 1 && r.received.every((x) => x.verified));
    await w.store.close();
    stores.splice(stores.indexOf(w.store), 1);
    const held = await storeContents(await folderStore(dir));
    assert.ok(held.length > 0);
    for (const [where, bytes] of held) {
      assert.equal(bytes.includes(token), false, `${where} holds the URL's token`);
      assert.equal(bytes.includes(SECRET.slice(6)), false, `${where} holds the secret`);
    }
    const unset = await loadIntegrations(dir, {});
    assert.throws(
      () => unset.endpoints[0]!.url(),
      (e: unknown) => e instanceof VtError && /OPS_HOOK_URL is not set/.test(e.message),
    );
  });

  it('refuses a malformed integrations block with the file and field', async () => {
    const dir = scratch('vt-hooks-bad-');
    for (const [block, why] of [
      ['  webhooks:\n    - { id: ops, url: "ftp://x", secret_env: S }', /integrations\.webhooks\.0\.url/],
      [
        '  webhooks:\n    - { id: ops, url: "http://x", url_env: U, secret_env: S }',
        /exactly one of url and url_env/,
      ],
      ['  webhooks:\n    - { id: ops, url: "http://x" }', /exactly one of secret_env and secret_file/],
      ['  webhooks:\n    - { id: ops, url: "http://x", secret_env: S, events: [coffee] }', /events/],
    ] as const) {
      writeFileSync(join(dir, 'vt.yaml'), `${TRAIN}integrations:\n${block}\n`);
      await assert.rejects(
        loadIntegrations(dir, {}),
        (e: unknown) => e instanceof VtError && e.code === 'TRAIN_INVALID' && why.test(e.message),
        block,
      );
    }
    // Written as one flow mapping, or with the key quoted, the block is still found and checked.
    for (const text of [
      `${TRAIN}"integrations":\n  webhooks:\n    - { id: ops, url: "ftp://x", secret_env: S }\n`,
      '{ "version": 1, "integrations": { "webhooks": [{ "id": "ops", "url": "ftp://x", "secret_env": "S" }] } }\n',
    ]) {
      writeFileSync(join(dir, 'vt.yaml'), text);
      await assert.rejects(loadIntegrations(dir, {}), /integrations\.webhooks\.0\.url/, text);
    }
  });

  it('escapes what Slack would act on, and strips control characters and known secrets', () => {
    assert.equal(mrkdwn('<!channel> & <@U1> \u001b[31mred'), '&lt;!channel&gt; &amp; &lt;@U1&gt; red');
    const m = renderMessage(
      {
        type: 'ticket-blocked',
        project: 'p',
        phase: 'x',
        ticket: 't',
        attempts: 1,
        reason: 'key ghp_abcdefghijklmnopqrstuvwxyz0123 leaked <!here>',
      },
      { id: 'i', createdAt: '2026-01-01T00:00:00.000Z' },
    );
    const text = JSON.stringify(m);
    assert.doesNotMatch(text, /ghp_abcdef/);
    assert.doesNotMatch(m.text, /<!here>/);
  });
});

describe('vt notify', () => {
  it('test sends a signed message the receiver verifies; verify checks a captured delivery; a wrong secret fails', async () => {
    const r = await receiver();
    const dir = scratch('vt-notify-');
    const secretFile = join(dir, 'hook.secret');
    writeFileSync(secretFile, SECRET);
    const ok = await runVt(['notify', 'test', r.url, '--secret-file', secretFile, '--json'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(r.received.length, 1);
    assert.ok(r.received[0]!.verified);
    assert.equal((JSON.parse(ok.stdout) as { ok: boolean; status: number }).status, 204);
    const got = r.received[0]!;
    const check = (body: string) =>
      runVt(
        [
          'notify',
          'verify',
          '--id',
          got.id,
          '--timestamp',
          got.timestamp,
          '--signature',
          got.signature,
          '--secret-file',
          secretFile,
        ],
        {
          cwd: dir,
          input: body,
        },
      );
    assert.equal((await check(got.body)).code, 0);
    const altered = await check(got.body.replace('test message', 'tost message'));
    assert.equal(altered.code, 1);
    assert.match(altered.stderr, /no signature matches/);

    const wrong = await runVt(['notify', 'test', r.url], {
      cwd: dir,
      env: { VT_WEBHOOK_SECRET: newSecret() },
    });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /did not accept the test message: it answered 401/);
    const none = await runVt(['notify', 'test', r.url], { cwd: dir, env: { VT_WEBHOOK_SECRET: '' } });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no secret: pass --secret-file FILE or set VT_WEBHOOK_SECRET/);
  });

  describeOnBackends('vt autopilot', () => {
    it('vt autopilot writes the rows as it works and delivers them in the background', async () => {
      const r = await receiver();
      const dir = scratch('vt-notify-auto-');
      writeFileSync(join(dir, 'hook.secret'), SECRET);
      writeFileSync(
        join(dir, 'vt.yaml'),
        `${autoTrainYaml(2, { approvalAt: 1 })}integrations:\n  webhooks:\n    - { id: ops, url_env: OPS_URL, secret_file: hook.secret }\n`,
      );
      const env = { OPS_URL: r.url };
      assert.equal((await runVt(['project', 'create', 'Auto', '--id', 'auto'], { cwd: dir, env })).code, 0);
      assert.equal((await runVt(['issue', 'add', 'Work', '--project', 'auto'], { cwd: dir, env })).code, 0);
      const run = await runVt(['autopilot', '--once', '--workspaces', 'folder'], { cwd: dir, env });
      assert.equal(run.code, 0, run.stderr);
      await r.waitFor(1, 60_000);
      const [got] = r.received;
      assert.ok(got!.verified, got!.error ?? '');
      const body = JSON.parse(got!.body) as {
        vt: { type: string; project: string };
        blocks: { text?: { text: string } }[];
      };
      assert.equal(body.vt.type, 'approval-needed');
      assert.match(body.blocks[1]!.text!.text, /1 approval from role \*lead\*\. May approve: lead-1\./);
      const log = await runVt(['notify', 'log', '--json'], { cwd: dir, env });
      assert.deepEqual(
        (JSON.parse(log.stdout) as { type: string; status: string }[]).map((x) => `${x.type}:${x.status}`),
        ['approval-needed:delivered'],
      );
    });
  });
});
