// The MLflow integration against an MLflow stand-in on 127.0.0.1 (test/fixtures/mlflow-server.ts):
// MLflow itself cannot be installed on this machine (PyPI is unreachable), so the stand-in answers the
// REST calls with the shapes of MLflow's REST API reference. Real stores (SQLite and PostgreSQL), real
// engine, real HTTP.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { sha256 } from '../src/canonical.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { VtError } from '../src/errors.ts';
import { judge } from '../src/gates/mlflow-threshold.ts';
import type { GateResult } from '../src/gates/types.ts';
import { EMPTY_INTEGRATIONS } from '../src/integrations/config.ts';
import { guardAliases, watchList } from '../src/integrations/mlflow/guard.ts';
import { openGuardIssues } from '../src/integrations/mlflow/tickets.ts';
import { deliverPromotions, PROMOTE_KIND } from '../src/integrations/mlflow/writeback.ts';
import { GAVE_UP_AT, rowsOfKind } from '../src/integrations/outbox-store.ts';
import { registerIntegrations } from '../src/integrations/register.ts';
import { nodeHttp } from '../src/io/http.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { MlflowStandIn } from './fixtures/mlflow-server.ts';
import { folderStore, TestClock, tempDir } from './helpers.ts';
import { describeOnBackends, storeContents } from './pg.ts';

const TOKEN = 'mlflow-canary-token-9c1e5a77d0b24f6e';

function trainYaml(gate: string): string {
  return `version: 1
name: mlflow-test
roles:
  - { id: improver, name: Improver }
  - { id: ops, name: Ops }
phases:
  - id: retraining
    name: Retraining
    stage: operations
    owner: improver
    gates:
      exit:
${gate
  .trim()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
    next: deployment
  - id: deployment
    name: Deployment
    stage: operations
    owner: ops
    next: improvement
  - id: improvement
    name: Improvement
    stage: operations
    owner: improver
    next: null
`;
}

const PROMOTION = `
- id: beats-champion
  kind: mlflow
  model: penguins
  alias: challenger
  metric: auc
  threshold: 0.85
  greater_is_better: true
  baseline: { alias: champion }
  min_absolute_change: 0.01
  promote: { alias: champion, tags: { reviewed: "yes" } }
`;

interface World {
  dir: string;
  store: Store;
  engine: Engine;
  tickets: Tickets;
  clock: TestClock;
  http: ReturnType<typeof nodeHttp>;
}

const mlflow = new MlflowStandIn();
const worlds: Store[] = [];
const dirs: string[] = [];

async function world(gate = PROMOTION): Promise<World & { project: string }> {
  const dir = tempDir('vt-mlflow-');
  dirs.push(dir);
  const store = await openStore(await folderStore(dir), { synchronous: 'NORMAL' });
  worlds.push(store);
  const clock = new TestClock();
  const http = nodeHttp({ MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_TRACKING_TOKEN: TOKEN });
  const engine = new Engine({ store, io: { ...nodeIo, http }, clock });
  registerIntegrations(engine, EMPTY_INTEGRATIONS);
  const train = parseTrain(trainYaml(gate), 'vt.yaml');
  await engine.createProject({ id: 'churn', name: 'Churn', workspace: dir, train }, { actor: 'alice' });
  return { dir, store, engine, tickets: new Tickets(engine), clock, http, project: 'churn' };
}

/** Two versions: champion v1 (auc 0.88), challenger v2 (auc 0.91). */
function seedRegistry() {
  mlflow.models = {};
  mlflow.runs = {};
  mlflow.addRun('run-1', { auc: 0.88 });
  mlflow.addRun('run-2', {
    auc: 0.91,
    loss: [
      { value: 0.5, step: 1 },
      { value: 0.3, step: 2 },
    ],
  });
  mlflow.addRun('run-3', { auc: 0.7 });
  mlflow.addRun('run-nometric', { accuracy: 0.9 });
  mlflow.addVersion('penguins', '1', 'run-1');
  mlflow.addVersion('penguins', '2', 'run-2');
  mlflow.addVersion('penguins', '3', 'run-3');
  mlflow.addVersion('penguins', '4', 'run-nometric');
  mlflow.models.penguins!.aliases = { champion: '1', challenger: '2' };
  mlflow.seen.length = 0;
  mlflow.beforeAnswer = null;
  mlflow.failNext = null;
}

const gateOf = (results: GateResult[], id = 'beats-champion') => results.find((r) => r.gate === id)!;

before(async () => {
  await mlflow.start();
  mlflow.token = TOKEN;
});
after(async () => {
  for (const s of worlds) await s.close();
  await mlflow.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
beforeEach(seedRegistry);

describe("MLflow's threshold semantics", () => {
  it('threshold: >= when greater is better, <= otherwise', () => {
    assert.equal(judge({ threshold: 0.85, greater_is_better: true }, 0.85, null).status, 'pass');
    assert.equal(judge({ threshold: 0.85, greater_is_better: true }, 0.8499, null).status, 'fail');
    assert.equal(judge({ threshold: 50, greater_is_better: false }, 50, null).status, 'pass');
    assert.equal(judge({ threshold: 50, greater_is_better: false }, 50.1, null).status, 'fail');
  });

  it('min_absolute_change and min_relative_change against the baseline, with the zero-baseline fallback', () => {
    const abs = { min_absolute_change: 0.05, greater_is_better: true };
    assert.equal(judge(abs, 0.91, 0.85).status, 'pass');
    assert.equal(judge(abs, 0.89, 0.85).status, 'fail');
    assert.equal(judge({ min_absolute_change: 10, greater_is_better: false }, 90, 100).status, 'pass');
    assert.equal(judge({ min_absolute_change: 10, greater_is_better: false }, 91, 100).status, 'fail');
    const rel = { min_relative_change: 0.1, greater_is_better: true };
    assert.equal(judge(rel, 0.89, 0.8).status, 'pass'); // +11.25%
    assert.equal(judge(rel, 0.87, 0.8).status, 'fail'); // +8.75%
    // Floats, as in MLflow: (0.88 - 0.8) / 0.8 is 0.09999999999999995, short of 0.1.
    assert.equal(judge(rel, 0.88, 0.8).status, 'fail');
    assert.equal(judge({ min_relative_change: 0.1, greater_is_better: false }, 90, 100).status, 'pass');
    assert.equal(judge(rel, 1e-9, 0).status, 'pass'); // baseline 0: better by more than 1e-10
    assert.equal(judge(rel, 0, 0).status, 'fail');
  });

  it('a missing candidate or baseline value is an error, never a pass', () => {
    assert.equal(judge({ threshold: 0.1, greater_is_better: true }, null, null).status, 'error');
    assert.equal(
      judge({ threshold: 0.1, min_absolute_change: 0.01, greater_is_better: true }, 0.9, null).status,
      'error',
    );
    assert.equal(judge({ threshold: 0.1, greater_is_better: true }, Number.NaN, null).status, 'error');
  });
});

describeOnBackends('the mlflow gate', () => {
  it('passes: resolves alias -> version -> run once, records all three and the SHA-256 of every answer', async () => {
    const w = await world();
    const c = await w.engine.checkGates(w.project, { actor: 'alice' });
    const r = gateOf(c.results);
    assert.equal(r.status, 'pass', r.message);
    const ev = r.evidence as {
      tracking_uri: string;
      candidate: { alias: string; version: string; run_id: string; value: number };
      baseline: { alias: string; version: string; run_id: string; value: number };
      calls: { call: string; status: number; sha256: string }[];
    };
    assert.equal(ev.tracking_uri, mlflow.url);
    assert.deepEqual(
      { ...ev.candidate },
      { by: 'alias', alias: 'challenger', version: '2', run_id: 'run-2', value: 0.91 },
    );
    assert.equal(ev.baseline.version, '1');
    assert.equal(ev.baseline.value, 0.88);
    // Every answer the stand-in sent is in the evidence, with the hash of its exact bytes.
    assert.equal(ev.calls.length, mlflow.seen.length);
    ev.calls.forEach((call, i) => {
      const seen = mlflow.seen[i]!;
      assert.equal(call.call.split('?')[0], `${seen.method} /api/2.0/mlflow/${seen.path}`);
      assert.equal(call.sha256, sha256(seen.answer));
    });
    assert.equal(
      mlflow.calls('registered-models/alias').filter((s) => s.query.alias === 'challenger').length,
      2,
      'resolved once, looked at again after judging',
    );
    assert.equal(mlflow.calls('runs/get').length, 2, 'one run read per side');
    assert.ok(mlflow.seen.every((s) => s.authorization === `Bearer ${TOKEN}`));
  });

  it('fails when the challenger does not beat the champion by min_absolute_change', async () => {
    mlflow.runs['run-2']!.metrics.auc = [{ value: 0.885, step: 0, timestamp: 1 }];
    const w = await world();
    const r = gateOf((await w.engine.checkGates(w.project, { actor: 'alice' })).results);
    assert.equal(r.status, 'fail');
    assert.match(r.message, /min_absolute_change failed \(0\.885 not >= baseline 0\.88 \+ 0\.01\)/);
  });

  it('is an error, never a pass: missing metric, unknown alias (404), bad token (401), refused connection', async () => {
    const w = await world();
    const check = async () => gateOf((await w.engine.checkGates(w.project, { actor: 'alice' })).results);

    mlflow.models.penguins!.aliases.challenger = '4'; // its run logged no auc
    let r = await check();
    assert.equal(r.status, 'error');
    assert.match(r.message, /auc is not logged in penguins v4 \(@challenger\), run run-nometric/);

    delete mlflow.models.penguins!.aliases.challenger;
    r = await check();
    assert.equal(r.status, 'error');
    assert.match(r.message, /404 RESOURCE_DOES_NOT_EXIST/);

    mlflow.models.penguins!.aliases.challenger = '2';
    mlflow.token = 'another-token';
    r = await check();
    mlflow.token = TOKEN;
    assert.equal(r.status, 'error');
    assert.match(r.message, /401 UNAUTHENTICATED/);

    mlflow.failNext = { n: 1, status: 503 };
    r = await check();
    assert.equal(r.status, 'error');

    await mlflow.stop();
    try {
      r = await check();
      assert.equal((await w.engine.advance(w.project, { actor: 'alice' })).state.phase, 'retraining');
    } finally {
      await mlflow.start();
    }
    assert.equal(r.status, 'error');
    assert.match(r.message, /MLflow at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
  });

  it('is an error when nothing listens at the tracking URI (connection refused)', async () => {
    const closed = await new MlflowStandIn().start();
    await closed.stop(); // a port nothing listens on any more
    const w = await world(`
- id: nobody-home
  kind: mlflow
  tracking_uri: ${closed.url}
  model: penguins
  alias: challenger
  metric: auc
  threshold: 0.5
  greater_is_better: true
`);
    const r = gateOf((await w.engine.checkGates(w.project, { actor: 'alice' })).results, 'nobody-home');
    assert.equal(r.status, 'error');
    assert.match(r.message, /unreachable \(ECONNREFUSED\)/);
  });

  it('is an error when the alias moves while the gate is checking', async () => {
    const w = await world();
    let n = 0;
    mlflow.beforeAnswer = (req) => {
      if (req.path === 'registered-models/alias' && req.query.alias === 'challenger' && ++n === 2)
        mlflow.models.penguins!.aliases.challenger = '3';
    };
    const r = gateOf((await w.engine.checkGates(w.project, { actor: 'alice' })).results);
    assert.equal(r.status, 'error');
    assert.match(r.message, /@challenger of penguins moved from v2 to v3 while the gate was checked/);
  });

  it('reads a metric at a step from the history, and a run found by runs/search', async () => {
    const w = await world(`
- id: loss-at-2
  kind: mlflow
  model: penguins
  version: 2
  metric: loss
  step: 2
  threshold: 0.35
  greater_is_better: false
- id: best-run
  kind: mlflow
  search: { experiment_ids: ["1"], order_by: ["metrics.auc DESC"] }
  metric: auc
  threshold: 0.9
  greater_is_better: true
`);
    const c = await w.engine.checkGates(w.project, { actor: 'alice' });
    assert.equal(gateOf(c.results, 'loss-at-2').status, 'pass', gateOf(c.results, 'loss-at-2').message);
    assert.equal(mlflow.calls('metrics/get-history').length, 1);
    const best = gateOf(c.results, 'best-run');
    assert.equal(best.status, 'pass', best.message);
    assert.equal((best.evidence.candidate as { run_id: string }).run_id, 'run-2');
  });

  it('refuses a malformed gate with a located error', () => {
    for (const [gate, why] of [
      [
        '- { id: g, kind: mlflow, model: m, alias: a, version: 2, metric: auc, threshold: 1, greater_is_better: true }',
        /exactly one of alias, version, run or search/,
      ],
      ['- { id: g, kind: mlflow, model: m, alias: a, metric: auc, threshold: 1 }', /greater_is_better/],
      [
        '- { id: g, kind: mlflow, model: m, alias: a, metric: auc, min_absolute_change: 0.1, greater_is_better: true }',
        /add baseline/,
      ],
      [
        '- { id: g, kind: mlflow, run: r1, metric: auc, threshold: 1, greater_is_better: true, promote: { alias: champion } }',
        /name the candidate by alias or version/,
      ],
      [
        '- { id: g, kind: mlflow, alias: a, metric: auc, threshold: 1, greater_is_better: true }',
        /needs model/,
      ],
    ] as const)
      assert.throws(
        () => parseTrain(trainYaml(gate), 'vt.yaml'),
        (e: unknown) => e instanceof VtError && e.code === 'TRAIN_INVALID' && why.test(e.message),
        gate,
      );
  });
});

describeOnBackends('write-back after a passing promotion', () => {
  it('a passing gate check alone writes nothing back; a failing advance neither; a passing advance does', async () => {
    const w = await world();
    assert.equal(gateOf((await w.engine.checkGates(w.project, { actor: 'alice' })).results).status, 'pass');
    assert.deepEqual(await rowsOfKind(w.store.db, PROMOTE_KIND, 10), [], 'vt gate check is not a promotion');

    mlflow.runs['run-2']!.metrics.auc = [{ value: 0.8, step: 0, timestamp: 1 }];
    const failed = await w.engine.advance(w.project, { actor: 'alice' });
    assert.equal(failed.state.phase, 'retraining');
    assert.deepEqual(await rowsOfKind(w.store.db, PROMOTE_KIND, 10), []);

    mlflow.runs['run-2']!.metrics.auc = [{ value: 0.91, step: 0, timestamp: 1 }];
    const moved = await w.engine.advance(w.project, { actor: 'alice' });
    assert.equal(moved.state.phase, 'deployment');
    const rows = await rowsOfKind(w.store.db, PROMOTE_KIND, 10);
    assert.equal(rows.length, 1);
    assert.equal(mlflow.models.penguins!.aliases.champion, '1', 'nothing written before delivery');

    const r = await deliverPromotions({ store: w.store, http: w.http, now: w.clock.now() });
    assert.equal(r.delivered, 1);
    assert.equal(mlflow.models.penguins!.aliases.champion, '2');
    assert.deepEqual(mlflow.models.penguins!.versions['2']!.tags, {
      'vt.project': 'churn',
      'vt.gate': 'retraining/beats-champion',
      'vt.event': `churn#${rows[0]!.id.split(':')[1]!.replace(/^0+/, '')}`,
      reviewed: 'yes',
    });
    assert.equal(
      (await deliverPromotions({ store: w.store, http: w.http, now: w.clock.now() })).delivered,
      0,
      'once',
    );
  });

  it('re-checks at promotion: an alias moved between the passing gate and the write-back writes nothing', async () => {
    for (const move of ['challenger', 'champion'] as const) {
      seedRegistry();
      const w = await world();
      assert.equal((await w.engine.advance(w.project, { actor: 'alice' })).state.phase, 'deployment');
      mlflow.models.penguins!.aliases[move] = '3'; // someone moves an alias before vt writes back
      const r = await deliverPromotions({ store: w.store, http: w.http, now: w.clock.now() });
      assert.equal(r.delivered, 0);
      assert.equal(r.refused.length, 1);
      assert.match(
        r.refused[0]!.reason,
        new RegExp(`@${move} of penguins moved from v${move === 'champion' ? 1 : 2} to v3`),
      );
      assert.equal(mlflow.calls('model-versions/set-tag').length, 0);
      assert.equal(mlflow.calls('registered-models/alias').filter((s) => s.method === 'POST').length, 0);
      const [row] = await rowsOfKind(w.store.db, PROMOTE_KIND, 10);
      assert.equal(row!.next_at, GAVE_UP_AT);
      assert.match(row!.last_error!, /^refused: /);
    }
  });

  it('an unreachable server delays the write-back; it happens once the server is back', async () => {
    const w = await world();
    await w.engine.advance(w.project, { actor: 'alice' });
    await mlflow.stop();
    const t0 = w.clock.now();
    let r: Awaited<ReturnType<typeof deliverPromotions>>;
    try {
      r = await deliverPromotions({ store: w.store, http: w.http, now: t0 });
    } finally {
      await mlflow.start();
    }
    assert.equal(r.retried, 1);
    assert.equal(
      (await deliverPromotions({ store: w.store, http: w.http, now: t0 })).delivered,
      0,
      'not due yet',
    );
    const later = new Date(t0.getTime() + 60_000);
    assert.equal((await deliverPromotions({ store: w.store, http: w.http, now: later })).delivered, 1);
    assert.equal(mlflow.models.penguins!.aliases.champion, '2');
  });

  it('the token reaches MLflow and nothing else: not the events, the outbox, or the store file', async () => {
    const w = await world();
    await w.engine.advance(w.project, { actor: 'alice' });
    await deliverPromotions({ store: w.store, http: w.http, now: w.clock.now() });
    assert.ok(mlflow.seen.length > 5 && mlflow.seen.every((s) => s.authorization === `Bearer ${TOKEN}`));
    await w.store.close();
    worlds.splice(worlds.indexOf(w.store), 1);
    const held = await storeContents(await folderStore(w.dir));
    assert.ok(held.length > 0);
    for (const [where, bytes] of held) assert.equal(bytes.includes(TOKEN), false, `${where} holds the token`);
  });
});

describeOnBackends('the alias guard', () => {
  it('takes the first sighting, accepts vt promotions, flags any other move once and opens an issue for improvement', async () => {
    const w = await world();
    const train = await w.engine.train((await w.engine.state(w.project)).trainHash);
    const watch = watchList([{ id: w.project, train }], [], mlflow.url);
    assert.deepEqual(watch, [
      { trackingUri: mlflow.url, model: 'penguins', alias: 'champion', projects: ['churn'] },
    ]);
    const guard = () => guardAliases({ store: w.store, http: w.http, watch, now: w.clock.now() });

    assert.deepEqual((await guard()).flags, [], 'the first sighting (v1) is taken as it is');
    await w.engine.advance(w.project, { actor: 'alice' });
    await deliverPromotions({ store: w.store, http: w.http, now: w.clock.now() });
    assert.equal(mlflow.models.penguins!.aliases.champion, '2');
    assert.deepEqual((await guard()).flags, [], 'a promotion vt made after a passing gate');

    mlflow.models.penguins!.aliases.champion = '3'; // moved by hand, no gate
    const report = await guard();
    assert.equal(report.flags.length, 1);
    assert.equal(
      report.flags[0]!.reason,
      '@champion of penguins moved from v2 to v3 without a passing vt gate',
    );
    const issues = await openGuardIssues(w.engine, w.tickets, report.flags);
    assert.equal(issues.length, 1);
    const s = await w.engine.state(w.project);
    const issue = s.issues[issues[0]!]!;
    assert.match(issue.title, /^MLflow guard: @champion of penguins moved from v2 to v3/);
    assert.deepEqual(issue.labels, ['mlflow-guard']);
    const ticket = Object.values(s.tickets).find((t) => t.issue === issue.id)!;
    assert.equal(ticket.phase, 'improvement', "a ticket for the improvement phase's owner");

    assert.deepEqual((await guard()).flags, [], 'flagged once');
    assert.deepEqual(
      await openGuardIssues(w.engine, w.tickets, report.flags),
      [],
      'the same flag opens no second issue',
    );
    delete mlflow.models.penguins!.aliases.champion;
    assert.match((await guard()).flags[0]!.reason, /@champion of penguins was removed \(it pointed at v3\)/);
  });

  it('reports an unreachable server as an error, not as a move', async () => {
    const w = await world();
    const train = await w.engine.train((await w.engine.state(w.project)).trainHash);
    const watch = watchList([{ id: w.project, train }], [], mlflow.url);
    await guardAliases({ store: w.store, http: w.http, watch, now: w.clock.now() });
    await mlflow.stop();
    try {
      const r = await guardAliases({ store: w.store, http: w.http, watch, now: w.clock.now() });
      assert.deepEqual(r.flags, []);
      assert.match(r.errors[0]!, /unreachable/);
    } finally {
      await mlflow.start();
    }
  });
});
