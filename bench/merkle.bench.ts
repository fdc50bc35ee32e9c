/**
 * What the Merkle log and its checkpoints cost: `node bench/merkle.bench.ts [--json] [--quick]`.
 *
 * The engine's durable transition rate (engine.advance(): gates evaluated, events appended to the
 * chain, projections updated, one commit; WAL, synchronous=FULL), walked as 18-phase runs with 16
 * walks in flight as in bench/engine.bench.ts, in three variants on fresh temp stores:
 *   reference   the engine with the global log's sequencer replaced by a no-op (the engine before the log)
 *   log         the engine as shipped: each append moves the Merkle log in the same transaction
 *   log+ckpt    as shipped with the checkpointer attached: a signed checkpoint file after every
 *               passed gate (here: nearly every commit), coalesced to one in flight
 * They run interleaved (reference, log, log+ckpt, reference, ...) and the best round of each is
 * reported, so a noisy neighbour affects all alike. Target: log+ckpt ≥ 0.9 × reference.
 * Progress goes to stderr; the table (or with --json one JSON object) to stdout; exit 0 unless
 * something broke: the benchmark reports, it is not a test.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { AuditDir } from '../src/audit/audit-dir.ts';
import { Checkpointer } from '../src/audit/checkpointer.ts';
import { createLogKey } from '../src/audit/log-key.ts';
import { Engine, type Who } from '../src/engine/engine.ts';
import type { NewEvent } from '../src/engine/events.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { appendEvents } from '../src/store/append.ts';
import { project } from '../src/store/projector.ts';
import { openStore, type Trx } from '../src/store/store.ts';
import { type LoadedTrain, parseTrain } from '../src/train/loader.ts';

const args = new Set(process.argv.slice(2));
const JSON_OUT = args.has('--json');
const SCALE = args.has('--quick') ? 1 / 20 : 1;
for (const a of args) {
  if (a !== '--json' && a !== '--quick') {
    process.stderr.write(`usage: node bench/merkle.bench.ts [--json] [--quick]\nunknown argument ${a}\n`);
    process.exit(2);
  }
}

const CONCURRENCY = 16;
const PHASES = 18;
const ROUNDS = 3;
const WALKS = { warm: 5, n: Math.max(2, Math.round(250 * SCALE)) };
const TARGET = 0.9;
const TRAIN_FILE = new URL('./fixtures/bench-train.yaml', import.meta.url);
const WHO: Who = { actor: 'bench' };

type Variant = 'reference' | 'log' | 'log+ckpt';
const VARIANTS: Variant[] = ['reference', 'log', 'log+ckpt'];

const log = (msg: string) => process.stderr.write(`${msg}\n`);
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

/**
 * The reference: the same engine, its appends made with a sequencer that does nothing. Overrides
 * appendIn with its body as shipped (appendEvents, then the projections; the bench adds no outbox
 * rules), so the only difference is the log.
 */
class UnloggedEngine extends Engine {
  override async appendIn(
    trx: Trx,
    projectId: string,
    head: { seq: number; hash: string },
    events: NewEvent[],
    who: Who,
  ) {
    const recorded = await appendEvents(
      trx,
      projectId,
      head,
      events,
      { ts: this.clock.now().toISOString(), actor: who.actor, idempotencyKey: who.idempotencyKey ?? null },
      async () => {},
    );
    for (const [i, e] of recorded.entries()) await project(trx, e, { head: i === recorded.length - 1 });
    return recorded;
  }
}

interface Timed {
  variant: Variant;
  walks: number;
  seconds: number;
  /** CPU time of this process over the same span: steadier than wall time on a shared machine. */
  cpuSeconds: number;
  checkpoints: number;
}

async function run(variant: Variant, train: LoadedTrain, round: number): Promise<Timed> {
  const dir = mkdtempSync(join(tmpdir(), `vt-bench-merkle-${variant.replace('+', '-')}-`));
  const store = await openStore(join(dir, 'vt.db'), { synchronous: 'FULL' });
  let cp: Checkpointer | null = null;
  try {
    const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db);
    if (Number(sync.rows[0]?.synchronous) !== 2) fail('the store is not synchronous=FULL');
    const engine =
      variant === 'reference' ? new UnloggedEngine({ store, io: nodeIo }) : new Engine({ store, io: nodeIo });
    if (variant === 'log+ckpt') {
      const keyFile = join(dir, 'key', 'log.ed25519');
      createLogKey(keyFile, { name: 'bench.vt/log' });
      cp = new Checkpointer({
        store,
        dir: new AuditDir(join(dir, 'ws', 'audit')),
        keyFile,
        workspace: join(dir, 'ws'),
        warn: (m) => fail(`checkpoint warning: ${m}`),
      });
      engine.onCommitted(cp.onCommitted);
    }
    const workspace = join(dir, 'ws');
    mkdirSync(workspace, { recursive: true });
    const walk = async (id: string) => {
      await engine.createProject({ id, name: `Bench ${id}`, workspace, train }, WHO);
      await engine.setMetric(id, 'score', 0.9, WHO);
      for (let i = 1; i <= PHASES; i++) {
        // Real work (an executor, git, a person) lets the event loop turn between transitions; so
        // does this, in every variant, so that checkpoint files are written while walks go on.
        await new Promise(setImmediate);
        const r = await engine.advance(id, WHO);
        const want = i === PHASES ? 'completed' : 'advanced';
        if (r.outcome.outcome !== want) fail(`${variant}: advance ${i} of ${id} gave ${r.outcome.outcome}`);
      }
    };
    await pool(WALKS.warm, CONCURRENCY, (i) => walk(`warm-${round}-${i}`));
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await pool(WALKS.n, CONCURRENCY, (i) => walk(`walk-${round}-${i}`));
    await cp?.flush();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;

    const total = WALKS.warm + WALKS.n;
    const moves = await store.db
      .selectFrom('transitions')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    if (Number(moves.c) !== total * PHASES)
      fail(`${variant}: ${moves.c} transitions, expected ${total * PHASES}`);
    const events = await store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    const state = await store.db.selectFrom('merkle_log').select('size').executeTakeFirstOrThrow();
    const logged = variant === 'reference' ? 0 : Number(events.c);
    if (state.size !== logged) fail(`${variant}: the log holds ${state.size} leaves, expected ${logged}`);
    let checkpoints = 0;
    if (cp) {
      const files = readdirSync(join(dir, 'ws', 'audit', 'checkpoints')).sort();
      checkpoints = files.length;
      if (files.at(-1) !== `${String(events.c).padStart(12, '0')}.ckpt`)
        fail(`${variant}: the latest checkpoint ${files.at(-1)} does not cover all ${events.c} events`);
    }
    return { variant, walks: WALKS.n, seconds, cpuSeconds, checkpoints };
  } finally {
    await cp?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const transitionsPerS = (t: Timed) => (t.walks * PHASES) / t.seconds;
const cpuUsPerTransition = (t: Timed) => (t.cpuSeconds * 1e6) / (t.walks * PHASES);
const fmt = (x: number, d = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

async function main(): Promise<void> {
  const train = parseTrain(readFileSync(TRAIN_FILE, 'utf8'), 'bench/fixtures/bench-train.yaml');
  const results: Timed[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of VARIANTS) {
      const t = await run(v, train, round);
      results.push(t);
      log(
        `round ${round} ${v.padEnd(9)} ${fmt(transitionsPerS(t)).padStart(6)} transitions/s, ${fmt(cpuUsPerTransition(t))} us CPU each (${t.walks} walks in ${t.seconds.toFixed(2)} s${t.checkpoints ? `, ${t.checkpoints} checkpoints` : ''})`,
      );
    }
  }
  const best = (v: Variant) =>
    results
      .filter((r) => r.variant === v)
      .reduce((a, b) => (transitionsPerS(b) > transitionsPerS(a) ? b : a));
  const leastCpu = (v: Variant) =>
    Math.min(...results.filter((r) => r.variant === v).map(cpuUsPerTransition));
  const ref = best('reference');
  const figures = Object.fromEntries(
    VARIANTS.map((v) => {
      const b = best(v);
      return [
        v,
        {
          transitionsPerSecond: transitionsPerS(b),
          ratioToReference: transitionsPerS(b) / transitionsPerS(ref),
          cpuUsPerTransition: leastCpu(v),
          cpuRatioToReference: leastCpu(v) / leastCpu('reference'),
          seconds: b.seconds,
          checkpoints: b.checkpoints,
        },
      ];
    }),
  ) as Record<
    Variant,
    {
      transitionsPerSecond: number;
      ratioToReference: number;
      cpuUsPerTransition: number;
      cpuRatioToReference: number;
      seconds: number;
      checkpoints: number;
    }
  >;
  const targets = [
    {
      name: `log+ckpt transitions/s >= ${TARGET} x reference`,
      ratio: figures['log+ckpt'].ratioToReference,
      pass: figures['log+ckpt'].ratioToReference >= TARGET,
    },
    {
      name: `log transitions/s >= ${TARGET} x reference`,
      ratio: figures.log.ratioToReference,
      pass: figures.log.ratioToReference >= TARGET,
    },
  ];
  const setup = {
    node: process.versions.node,
    cpus: cpus().length,
    tmpdir: tmpdir(),
    synchronous: 'FULL',
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    walks: WALKS,
    phases: PHASES,
    quick: SCALE !== 1,
  };
  const perRound = Object.fromEntries(
    VARIANTS.map((v) => [
      v,
      results
        .filter((r) => r.variant === v)
        .map((r) => ({
          transitionsPerSecond: transitionsPerS(r),
          cpuUsPerTransition: cpuUsPerTransition(r),
        })),
    ]),
  );
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ setup, figures, targets, perRound }, null, 2)}\n`);
    return;
  }
  const lines = [
    `vt Merkle log benchmark (best of ${ROUNDS} interleaved rounds; WAL, synchronous=FULL, ${CONCURRENCY} walks in flight, ${tmpdir()})`,
    '',
    'variant      transitions/s   × reference   CPU us/transition   × reference   checkpoints',
    ...VARIANTS.map(
      (v) =>
        `${v.padEnd(12)} ${fmt(figures[v].transitionsPerSecond).padStart(13)}   ${figures[v].ratioToReference.toFixed(2).padStart(11)}   ${fmt(figures[v].cpuUsPerTransition).padStart(17)}   ${figures[v].cpuRatioToReference.toFixed(2).padStart(11)}   ${String(figures[v].checkpoints || '').padStart(11)}`,
    ),
    '',
    ...targets.map((t) => `${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ratio ${t.ratio.toFixed(2)}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
