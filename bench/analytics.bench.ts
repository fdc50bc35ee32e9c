/**
 * Value report benchmark: `node --expose-gc bench/analytics.bench.ts [--json] [--projects N] [--fresh]`.
 *
 * A store of N projects (default 10,000) is generated through the real engine on
 * test/fixtures/flow.yaml (test/fixtures/value-history.ts: agents and people, approvals, failed gates,
 * rework, waivers, holds, cancellations, session costs) and kept under os.tmpdir() for later runs
 * (--fresh makes it again). Then, interleaved twice, best round reported:
 *   bare    one query reading every event row (project_id, seq, ts, actor, type, payload) into memory:
 *           the least any report over the events must do.
 *   report  valueReport(db) for the portfolio: pages of 5,000 events, every figure, a 2,000-trial
 *           forecast for each open project.
 *   team    valueReport(db, { team }) for one of the four teams.
 * Peak heap above the starting heap is sampled every 5 ms during each run (with --expose-gc the heap
 * is collected first), to show the report streams instead of holding the history. Progress goes to
 * stderr; the table (or with --json one JSON object) to stdout. The target prints PASS/FAIL; the exit
 * code is 0 unless something broke: the benchmark reports, it is not a test.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { valueReport } from '../src/analytics/index.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';
import { DAY, generateHistory } from '../test/fixtures/value-history.ts';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const PROJECTS = Number(option('--projects') ?? 10_000);
if (!Number.isInteger(PROJECTS) || PROJECTS < 10) {
  process.stderr.write(
    'usage: node --expose-gc bench/analytics.bench.ts [--json] [--projects N] [--fresh]\n',
  );
  process.exit(2);
}
const JSON_OUT = flag('--json');
const ROUNDS = 2;
const TARGET = {
  /** report seconds ≤ this × bare-query seconds */
  reportVsBare: 10,
};
const START = Date.parse('2025-01-06T00:00:00Z');
/** Projects start over two years; the report is as of a week after the last one started. */
const SPAN = 730 * DAY;
const NOW = START + SPAN + 7 * DAY;
const FLOW = new URL('../test/fixtures/flow.yaml', import.meta.url).pathname;
const log = (m: string) => process.stderr.write(`${m}\n`);

/** The generated store, made once per size and kept for later runs. */
async function prepare(): Promise<{ store: Store; events: number }> {
  const dir = join(tmpdir(), `vt-bench-analytics-${PROJECTS}`);
  const file = join(dir, 'vt.db');
  if (flag('--fresh')) rmSync(dir, { recursive: true, force: true });
  if (!existsSync(file)) {
    const work = `${dir}.partial`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    log(`generating ${PROJECTS} projects through the engine into ${work} (once; kept for later runs)…`);
    const t0 = performance.now();
    const store = await openStore(join(work, 'vt.db'), { synchronous: 'NORMAL' });
    const train = parseTrain(readFileSync(FLOW, 'utf8'), FLOW);
    // The projects' workspace is a folder of its own: vt commits it, and the store must not be in it.
    const workspace = join(work, 'workspace');
    mkdirSync(workspace, { recursive: true });
    await generateHistory(store, train, workspace, {
      projects: PROJECTS,
      seed: 424242,
      start: START,
      span: SPAN,
      now: NOW,
      lanes: 16,
    });
    await store.close();
    log(`generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  }
  const store = await openStore(file, { synchronous: 'NORMAL' });
  const row = await store.db
    .selectFrom('events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { store, events: Number(row.n) };
}

interface Run {
  seconds: number;
  peakHeapMB: number;
}

/** Time fn, sampling the heap above its starting level every 5 ms. */
async function measure(fn: () => Promise<unknown>): Promise<Run> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  clearInterval(timer);
  if (!result) throw new Error('benchmark invalid: nothing was computed');
  return { seconds, peakHeapMB: (peak - base) / 2 ** 20 };
}

const { store, events } = await prepare();
const now = new Date(NOW);
let checked = 0;
const bare = () =>
  store.db
    .selectFrom('events')
    .select(['project_id', 'seq', 'ts', 'actor', 'type', 'payload'])
    .orderBy('project_id')
    .orderBy('seq')
    .execute()
    .then((rows) => {
      if (rows.length !== events)
        throw new Error(`benchmark invalid: read ${rows.length} of ${events} events`);
      return rows.length;
    });
const report = () =>
  valueReport(store.db, { now }).then((r) => {
    if (r.events !== events || r.projects.total !== PROJECTS)
      throw new Error(`benchmark invalid: the report saw ${r.events} events, ${r.projects.total} projects`);
    checked = r.forecasts.length;
    return r;
  });
const team = () => valueReport(store.db, { team: 'beta', now });

const best: Record<'bare' | 'report' | 'team', Run | null> = { bare: null, report: null, team: null };
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, fn] of [
    ['bare', bare],
    ['report', report],
    ['team', team],
  ] as const) {
    const r = await measure(fn);
    log(`round ${round} ${name}: ${r.seconds.toFixed(2)} s, peak heap +${r.peakHeapMB.toFixed(0)} MB`);
    const b = best[name];
    best[name] = b && b.seconds <= r.seconds ? { ...b, peakHeapMB: Math.max(b.peakHeapMB, r.peakHeapMB) } : r;
  }
}
await store.close();

const b = best.bare!;
const r = best.report!;
const t = best.team!;
const ratio = r.seconds / b.seconds;
const pass = ratio <= TARGET.reportVsBare;
const out = {
  node: process.version,
  projects: PROJECTS,
  events,
  open_projects_forecast: checked,
  gc_exposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
  bare: b,
  report: r,
  team: t,
  report_vs_bare: ratio,
  target: { report_vs_bare_at_most: TARGET.reportVsBare, pass },
};
if (JSON_OUT) process.stdout.write(`${JSON.stringify(out)}\n`);
else {
  const row = (name: string, x: Run) =>
    `${name.padEnd(28)}${x.seconds.toFixed(2).padStart(9)}${x.peakHeapMB.toFixed(0).padStart(12)}`;
  process.stdout.write(
    [
      `${PROJECTS} projects, ${events} events, ${checked} open projects forecast (Node ${process.version})`,
      `${'measurement'.padEnd(28)}${'seconds'.padStart(9)}${'peak MB'.padStart(12)}`,
      row('bare query (all events)', b),
      row('value report (portfolio)', r),
      row('value report (one team)', t),
      `report ÷ bare query: ${ratio.toFixed(2)} (target ≤ ${TARGET.reportVsBare}) ${pass ? 'PASS' : 'FAIL'}`,
      '',
    ].join('\n'),
  );
}
