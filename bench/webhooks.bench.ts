/**
 * Webhooks benchmark: does a dead receiver slow transitions? `node bench/webhooks.bench.ts [--json] [--quick]`
 *
 * The same workload four times, on fresh durable stores (WAL, synchronous=FULL), 16 walks in flight:
 * each walk creates a project on bench/fixtures/bench-train.yaml, then 18 times records `score` and
 * advances. A notification rule with the drift expression `score > 0.5` turns every recorded score into
 * an outbox row, so each transition comes with one webhook to deliver.
 *   none       no webhook endpoint: no rule, no deliverer (the reference)
 *   rows       the rule writes its rows, nobody delivers them
 *   refused    rows, and a deliverer looping in the same process against a port nothing listens on
 *              (every attempt refused at once, retried with no backoff: the busiest a dead receiver gets)
 *   hanging    rows, and a deliverer looping against a receiver that accepts and never answers (each
 *              attempt waits out a 1 s timeout, 4 in flight)
 * They run interleaved twice and the better round counts. Transitions per second are counted over wall
 * time. The deliverer shares the process, the event loop and the store with the engine, as it does in
 * `vt autopilot`. Targets print PASS/FAIL; the exit code is 0 unless something broke.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type Who } from '../src/engine/engine.ts';
import type { Endpoint } from '../src/integrations/config.ts';
import { registerIntegrations } from '../src/integrations/register.ts';
import { deliverWebhooks } from '../src/integrations/webhooks/deliver.ts';
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
const WALKS = Math.max(4, Math.round(80 * SCALE));
const WARM = 4;
const CONCURRENCY = 16;
const PHASES = 18;
const ROUNDS = 2;
const CONDITIONS = ['none', 'rows', 'refused', 'hanging'] as const;
type Condition = (typeof CONDITIONS)[number];

const TARGETS = {
  /** transitions/s with a dead receiver ≥ this × with rows only (the receiver's own cost) */
  deadVsRows: 0.9,
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
  transitions: number;
  seconds: number;
  perSecond: number;
  rows: number;
  attempts: number;
}

async function run(
  condition: Condition,
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
    const walk = async (id: string) => {
      await engine.createProject({ id, name: `Bench ${id}`, workspace, train }, WHO);
      for (let i = 1; i <= PHASES; i++) {
        await engine.setMetric(id, 'score', 0.9, WHO);
        const r = await engine.advance(id, WHO);
        const want = i === PHASES ? 'completed' : 'advanced';
        if (r.outcome.outcome !== want) fail(`${condition}: advance ${i} of ${id} gave ${r.outcome.outcome}`);
      }
    };
    await pool(WARM, CONCURRENCY, (i) => walk(`warm-${round}-${i}`));

    let stop = false;
    const deliverer =
      condition === 'refused' || condition === 'hanging'
        ? (async () => {
            while (!stop) {
              const r = await deliverWebhooks({
                store,
                endpoints: [endpoint],
                now: new Date(),
                backoffMs: () => 0,
                timeoutMs: 1000,
                concurrency: 4,
                batch: 50,
              });
              if (r.failed + r.gaveUp + r.delivered === 0) await new Promise((res) => setTimeout(res, 5));
            }
          })()
        : null;
    const t0 = performance.now();
    await pool(WALKS, CONCURRENCY, (i) => walk(`walk-${round}-${i}`));
    const seconds = (performance.now() - t0) / 1000;
    // Attempts the deliverer finished while the walks ran (its last run may still be in flight).
    const tried = await store.db
      .selectFrom('webhook_attempts')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    stop = true;
    await deliverer;

    const moves = await store.db
      .selectFrom('transitions')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    if (Number(moves.c) !== (WARM + WALKS) * PHASES) fail(`${condition}: ${moves.c} transitions`);
    const rows = await store.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    const expected = condition === 'none' ? 0 : (WARM + WALKS) * PHASES;
    if (Number(rows.c) !== expected) fail(`${condition}: ${rows.c} outbox rows, expected ${expected}`);
    const attempts = Number(tried.c);
    if (deliverer && attempts === 0) fail(`${condition}: the deliverer made no attempt`);
    const transitions = WALKS * PHASES;
    return {
      condition,
      transitions,
      seconds,
      perSecond: transitions / seconds,
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
const best = new Map<Condition, Result>();
try {
  for (let round = 0; round < ROUNDS; round++)
    for (const c of CONDITIONS) {
      const r = await run(c, train, round, urls);
      log(
        `round ${round + 1} ${c.padEnd(8)} ${r.perSecond.toFixed(0).padStart(6)} transitions/s  (${r.seconds.toFixed(2)} s, ${r.attempts} delivery attempts)`,
      );
      const b = best.get(c);
      if (!b || r.perSecond > b.perSecond) best.set(c, r);
    }
} finally {
  hang.closeAllConnections();
  hang.close();
}

const get = (c: Condition) => best.get(c)!;
const ratios = {
  rowsVsNone: get('rows').perSecond / get('none').perSecond,
  refusedVsNone: get('refused').perSecond / get('none').perSecond,
  hangingVsNone: get('hanging').perSecond / get('none').perSecond,
  refusedVsRows: get('refused').perSecond / get('rows').perSecond,
  hangingVsRows: get('hanging').perSecond / get('rows').perSecond,
};
const pass = {
  refused: ratios.refusedVsRows >= TARGETS.deadVsRows,
  hanging: ratios.hangingVsRows >= TARGETS.deadVsRows,
};
const setup = {
  node: process.version,
  cpus: cpus().length,
  walks: WALKS,
  in_flight: CONCURRENCY,
  phases: PHASES,
  rounds: ROUNDS,
};
if (JSON_OUT) {
  process.stdout.write(
    `${JSON.stringify({ setup, results: Object.fromEntries([...best].map(([k, v]) => [k, v])), ratios, targets: TARGETS, pass })}\n`,
  );
} else {
  const f = (x: number) => x.toFixed(2);
  process.stdout.write(
    [
      `| condition | transitions/s | delivery attempts | ÷ none | ÷ rows |`,
      `| --- | ---: | ---: | ---: | ---: |`,
      ...CONDITIONS.map((c) => {
        const r = get(c);
        return `| ${c} | ${r.perSecond.toFixed(0)} | ${r.attempts} | ${f(r.perSecond / get('none').perSecond)} | ${c === 'none' ? '-' : f(r.perSecond / get('rows').perSecond)} |`;
      }),
      '',
      `dead receiver (refused) ÷ rows only: ${f(ratios.refusedVsRows)} (target ≥ ${TARGETS.deadVsRows}) ${pass.refused ? 'PASS' : 'FAIL'}`,
      `dead receiver (hanging) ÷ rows only: ${f(ratios.hangingVsRows)} (target ≥ ${TARGETS.deadVsRows}) ${pass.hanging ? 'PASS' : 'FAIL'}`,
      '',
    ].join('\n'),
  );
}
