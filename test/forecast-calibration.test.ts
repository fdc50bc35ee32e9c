/**
 * Are the forecast's percentiles calibrated? Projects are generated through the real engine with
 * stay durations drawn from known lognormal distributions (and a 25% rework loop from check back to
 * build): a history of 800 projects that have (nearly all) finished, and 1,000 held-out projects
 * started in the 40 days before `now`. Each held-out project not yet deployed at `now` is forecast
 * from the team's history (which holds the held-out projects' finished stays too, and their open ones
 * as censored), and its planned deployment time (known to the generator, not to the store) is
 * compared with the P50 and P90 dates. The same store, copied to PostgreSQL, gives the same report.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { valueReport } from '../src/analytics/index.ts';
import { copyStore } from '../src/audit/store-copy.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { DAY, generateHistory } from './fixtures/value-history.ts';
import { ROOT, tempDir } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

const FLOW = join(ROOT, 'test', 'fixtures', 'flow.yaml');
const START = Date.parse('2026-01-05T00:00:00Z');
const NOW = START + 260 * DAY;
const TEAM = [{ team: 'cal', factor: 1, people: ['cat', 'cy'] }];
const HISTORY = 800;

test('P50 and P90 deployment dates cover about 50% and 90% of held-out projects', async (t) => {
  const dir = tempDir('vt-calibration-');
  const store = await openStore(join(dir, '.vt', 'vt.db'), { synchronous: 'NORMAL' });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const train = parseTrain(readFileSync(FLOW, 'utf8'), FLOW);
  const common = { now: NOW, teams: TEAM, plain: true, auto: 0 };
  await generateHistory(store, train, dir, {
    ...common,
    projects: HISTORY,
    seed: 11,
    start: START,
    span: 200 * DAY,
    prefix: 'h',
  });
  const heldOut = await generateHistory(store, train, dir, {
    ...common,
    projects: 1000,
    seed: 12,
    start: NOW - 40 * DAY,
    span: 40 * DAY,
    prefix: 'k',
  });

  const r = await valueReport(store.db, { team: 'cal', now: new Date(NOW) });
  const forecasts = new Map(r.forecasts.map((f) => [f.project, f]));
  const open = heldOut.filter((p) => p.deployAt !== null && p.deployAt > NOW);
  assert.ok(open.length > 300, `only ${open.length} held-out projects are still before deployment`);
  let by50 = 0;
  let by90 = 0;
  for (const p of open) {
    const f = forecasts.get(p.id);
    assert.ok(f?.p50 && f.p90 && f.target === 'deployment', `${p.id}: ${f?.sentence}`);
    if (p.deployAt! <= Date.parse(f.p50)) by50++;
    if (p.deployAt! <= Date.parse(f.p90)) by90++;
  }
  const n = open.length;
  const c50 = by50 / n;
  const c90 = by90 / n;
  // Held-out outcomes are binomial around the true coverage, and the forecast itself is estimated
  // from a finite history: allow three standard errors of both, sqrt(q(1-q)(1/n + 1/history)).
  const tol = (q: number) => 3 * Math.sqrt(q * (1 - q) * (1 / n + 1 / HISTORY));
  t.diagnostic(
    `${n} held-out projects: ${(c50 * 100).toFixed(1)}% deployed by P50 (±${(tol(0.5) * 100).toFixed(1)}), ${(c90 * 100).toFixed(1)}% by P90 (±${(tol(0.9) * 100).toFixed(1)})`,
  );
  assert.ok(Math.abs(c50 - 0.5) <= tol(0.5), `P50 covers ${c50.toFixed(3)} of ${n}`);
  assert.ok(Math.abs(c90 - 0.9) <= tol(0.9), `P90 covers ${c90.toFixed(3)} of ${n}`);

  // PostgreSQL computes the report over the same history (copied, every chain verified) to the
  // same figures, so the calibration above holds there too.
  const pg = await openStore(await freshPgUrl());
  t.after(async () => {
    await pg.close();
    await dropTestDatabases();
  });
  const copied = await copyStore(store, pg);
  assert.ok(copied.verified && copied.projects >= 1800, `copied ${copied.projects} projects`);
  assert.deepEqual(await valueReport(pg.db, { team: 'cal', now: new Date(NOW) }), r);
});
