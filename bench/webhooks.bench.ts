/**
 * Webhooks benchmark: does a dead receiver slow transitions? `node bench/webhooks.bench.ts [--json] [--quick]`
 *
 * The same workload under four conditions, on fresh durable stores (WAL, synchronous=FULL): each walk
 * creates a project on bench/fixtures/bench-train.yaml, then 18 times records `score` and advances.
 * Two loads: `busy`, 16 walks in flight (transitions per second), and `paced`, one walk at a time with
 * 5 ms between commands, as when an autopilot waits on its executors: the database is free between
 * commands, so the deliverer gets in, and what counts is the latency of advance() (p50, p95). A notification rule with the drift expression `score > 0.5` turns every recorded score into
 * an outbox row, so each transition comes with one webhook to deliver.
 *   none       no webhook endpoint: no rule, no deliverer (the reference)
 *   rows       the rule writes its rows, nobody delivers them
 *   refused    rows, and a deliverer against a port nothing listens on (every attempt refused at once)
 *   hanging    rows, and a deliverer against a receiver that accepts and never answers (each attempt
 *              waits out a 1 s timeout)
 * The deliverer runs every 100 ms with no backoff, so every pending row is due on every run: the
 * busiest a dead receiver can make it (bench/fixtures/deliver-loop.ts).
 * The deliverer runs in its own process on the same store file (bench/fixtures/deliver-loop.ts), as
 * `vt notify deliver --watch` does, so it competes for the database's write lock, its fsyncs and the
 * CPU. (In one process with walks whose gates do no I/O, the engine never yields to the event loop
 * and a deliverer there would not run at all: that would measure nothing.) The conditions run
 * interleaved twice and the better round counts. Transitions per second are counted over wall time.
 * Targets print PASS/FAIL; the exit code is 0 unless something broke.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type Who } from '../src/engine/engine.ts';
import type { Endpoint } from '../src/integrations/config.ts';
import { registerIntegrations } from '../src/integrations/register.ts';
import { newSecret } from '../src/integrations/webhooks/sign.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { type LoadedTrain, parseTrain } from '../src/train/loader.ts';

const args = new Set(process.argv.slice(2));
for (const a of args)
  if (a !== '--json' && a !== '--quick') {
    process.stderr.write(`usage: node bench/webhooks.bench.ts [--json] [--quick]\nunknown argument ${a}\n`);
    process.exit(2);
  }
const JSON_OUT = args.has('--json');
const SCALE = args.has('--quick') ? 1 / 10 : 1;
/** Walks per measurement, and how many are in flight, for each load. */
const LOADS = {
  busy: { walks: Math.max(4, Math.round(80 * SCALE)), inFlight: 16 },
  paced: { walks: Math.max(2, Math.round(12 * SCALE)), inFlight: 1 },
} as const;
type Load = keyof typeof LOADS;
const WARM = 4;
const PHASES = 18;
const ROUNDS = 2;
const CONDITIONS = ['none', 'rows', 'refused', 'hanging'] as const;
type Condition = (typeof CONDITIONS)[number];

const TARGETS = {
  /** busy: transitions/s with a dead receiver ≥ this × with rows only (the receiver's own cost) */
  deadVsRows: 0.8,
  /** paced: advance() p95 with a dead receiver ≤ this × with rows only */
  p95DeadVsRows: 1.5,
};

const WHO: Who = { actor: 'bench' };
const log = (m: string) => process.stderr.write(`${m}\n`);

function fail(msg: string): never {
  throw new Error(`benchmark invalid: ${msg}`);
}

async function pool(n: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

interface Result {
  condition: Condition;
  load: Load;
  transitions: number;
  seconds: number;
  perSecond: number;
  /** advance() latency, ms */
  p50: number;
  p95: number;
  rows: number;
  /** delivery attempts the deliverer finished while the walks ran */
  attempts: number;
}

const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function run(
  condition: Condition,
  load: Load,
  train: LoadedTrain,
  round: number,
  urls: Record<string, string>,
): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), `vt-bench-hooks-${condition}-`));
  const store = await openStore(join(dir, 'vt.db'), { synchronous: 'FULL' });
  const secret = newSecret();
  const endpoint: Endpoint = {
    id: 'ops',
    events: null,
    url: () => urls[condition] ?? 'http://127.0.0.1:1/',
    secret: () => secret,
    describe: 'ops',
  };
  try {
    const engine = new Engine({ store, io: nodeIo });
    registerIntegrations(engine, {
      endpoints: condition === 'none' ? [] : [endpoint],
      drift: ['score > 0.5'],
      budgetWarnAt: 0.8,
      mlflow: { trackingUri: null, guard: [] },
    });
    const workspace = join(dir, 'ws');
    mkdirSync(workspace);
    const latencies: number[] = [];
    const pause = () => (load === 'paced' ? new Promise((res) => setTimeout(res, 5)) : undefined);
    const walk = async (id: string) => {
      await engine.createProject({ id, name: `Bench ${id}`, workspace, train }, WHO);
      for (let i = 1; i <= PHASES; i++) {
        await pause();
        await engine.setMetric(id, 'score', 0.9, WHO);
        await pause();
        const t = performance.now();
        const r = await engine.advance(id, WHO);
        latencies.push(performance.now() - t);
        const want = i === PHASES ? 'completed' : 'advanced';
        if (r.outcome.outcome !== want) fail(`${condition}: advance ${i} of ${id} gave ${r.outcome.outcome}`);
      }
    };
    const { walks, inFlight } = LOADS[load];
    await pool(WARM, inFlight, (i) => walk(`warm-${round}-${i}`));

    const deliverer =
      condition === 'refused' || condition === 'hanging'
        ? (() => {
            const child = spawn(
              process.execPath,
              [
                new URL('./fixtures/deliver-loop.ts', import.meta.url).pathname,
                join(dir, 'vt.db'),
                urls[condition]!,
              ],
              { stdio: ['ignore', 'pipe', 'inherit'] },
            );
            let out = '';
            child.stdout.on('data', (d) => {
              out += d;
            });
            const done = new Promise<number>((resolve) =>
              child.on('close', () => resolve(Number(/attempts (\d+)/.exec(out)?.[1] ?? 0))),
            );
            return { stop: () => child.kill('SIGTERM'), done };
          })()
        : null;
    const attemptsSoFar = async () =>
      Number(
        (
          await store.db
            .selectFrom('webhook_attempts')
            .select((eb) => eb.fn.countAll<number>().as('c'))
            .executeTakeFirstOrThrow()
        ).c,
      );
    // The clock starts once the deliverer is busy: it has failed at least one warm-up row.
    for (let waited = 0; deliverer && (await attemptsSoFar()) === 0; waited += 50) {
      if (waited > 60_000) fail(`${condition}: the deliverer made no attempt in a minute`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const before = await attemptsSoFar();
    latencies.length = 0;
    const t0 = performance.now();
    await pool(walks, inFlight, (i) => walk(`walk-${round}-${i}`));
    const seconds = (performance.now() - t0) / 1000;
    // Attempts the deliverer finished while the walks ran.
    const tried = await attemptsSoFar();
    deliverer?.stop();
    const total = deliverer ? await deliverer.done : 0;

    const moves = await store.db
      .selectFrom('transitions')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    if (Number(moves.c) !== (WARM + walks) * PHASES) fail(`${condition}: ${moves.c} transitions`);
    const rows = await store.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    const expected = condition === 'none' ? 0 : (WARM + walks) * PHASES;
    if (Number(rows.c) !== expected) fail(`${condition}: ${rows.c} outbox rows, expected ${expected}`);
    const attempts = tried - before;
    if (deliverer && total === 0) fail(`${condition}: the deliverer made no attempt`);
    const transitions = walks * PHASES;
    return {
      condition,
      load,
      transitions,
      seconds,
      perSecond: transitions / seconds,
      p50: pct(latencies, 0.5),
      p95: pct(latencies, 0.95),
      rows: Number(rows.c),
      attempts,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const train = parseTrain(readFileSync(new URL('./fixtures/bench-train.yaml', import.meta.url), 'utf8'));
const hang = createServer(() => {}); // accepts, reads, never answers
const hangPort = await listen(hang);
const urls: Record<string, string> = {
  refused: `http://127.0.0.1:${await closedPort()}/hooks`,
  hanging: `http://127.0.0.1:${hangPort}/hooks`,
};
const best = new Map<string, Result>();
try {
  for (let round = 0; round < ROUNDS; round++)
    for (const load of Object.keys(LOADS) as Load[])
      for (const c of CONDITIONS) {
        const r = await run(c, load, train, round, urls);
        log(
          `round ${round + 1} ${load.padEnd(4)} ${c.padEnd(8)} ${r.perSecond.toFixed(0).padStart(5)} transitions/s  advance p50 ${r.p50.toFixed(1)} ms p95 ${r.p95.toFixed(1)} ms  (${r.seconds.toFixed(2)} s, ${r.attempts} delivery attempts)`,
        );
        const key = `${load}/${c}`;
        const b = best.get(key);
        // The better round: higher throughput when busy, lower p95 when paced.
        if (!b || (load === 'busy' ? r.perSecond > b.perSecond : r.p95 < b.p95)) best.set(key, r);
      }
} finally {
  hang.closeAllConnections();
  hang.close();
}

const get = (load: Load, c: Condition) => best.get(`${load}/${c}`)!;
const ratios = {
  busy: {
    rowsVsNone: get('busy', 'rows').perSecond / get('busy', 'none').perSecond,
    refusedVsRows: get('busy', 'refused').perSecond / get('busy', 'rows').perSecond,
    hangingVsRows: get('busy', 'hanging').perSecond / get('busy', 'rows').perSecond,
  },
  paced: {
    p95RefusedVsRows: get('paced', 'refused').p95 / get('paced', 'rows').p95,
    p95HangingVsRows: get('paced', 'hanging').p95 / get('paced', 'rows').p95,
  },
};
const pass = {
  busyRefused: ratios.busy.refusedVsRows >= TARGETS.deadVsRows,
  busyHanging: ratios.busy.hangingVsRows >= TARGETS.deadVsRows,
  pacedRefused: ratios.paced.p95RefusedVsRows <= TARGETS.p95DeadVsRows,
  pacedHanging: ratios.paced.p95HangingVsRows <= TARGETS.p95DeadVsRows,
};
const setup = { node: process.version, cpus: cpus().length, loads: LOADS, phases: PHASES, rounds: ROUNDS };
if (JSON_OUT) {
  process.stdout.write(
    `${JSON.stringify({ setup, results: Object.fromEntries(best), ratios, targets: TARGETS, pass })}\n`,
  );
} else {
  const f = (x: number) => x.toFixed(2);
  const ok = (b: boolean) => (b ? 'PASS' : 'FAIL');
  process.stdout.write(
    [
      '| load | condition | transitions/s | advance p50 ms | advance p95 ms | delivery attempts meanwhile |',
      '| --- | --- | ---: | ---: | ---: | ---: |',
      ...(Object.keys(LOADS) as Load[]).flatMap((load) =>
        CONDITIONS.map((c) => {
          const r = get(load, c);
          return `| ${load} | ${c} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.attempts} |`;
        }),
      ),
      '',
      `busy: rows only ÷ none ${f(ratios.busy.rowsVsNone)}; refused ÷ rows ${f(ratios.busy.refusedVsRows)} ${ok(pass.busyRefused)}; hanging ÷ rows ${f(ratios.busy.hangingVsRows)} ${ok(pass.busyHanging)} (target ≥ ${TARGETS.deadVsRows})`,
      `paced: advance p95 refused ÷ rows ${f(ratios.paced.p95RefusedVsRows)} ${ok(pass.pacedRefused)}; hanging ÷ rows ${f(ratios.paced.p95HangingVsRows)} ${ok(pass.pacedHanging)} (target ≤ ${TARGETS.p95DeadVsRows})`,
      '',
    ].join('\n'),
  );
}
