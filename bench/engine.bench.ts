/**
 * Engine throughput benchmark: `node bench/engine.bench.ts [--json] [--quick]` (also `npm run bench`).
 *
 * Three measurements in one process, each on fresh temp files under os.tmpdir(), every commit
 * durable (journal_mode=WAL, synchronous=FULL):
 *   raw        better-sqlite3 single-row commits: the ceiling for one durable commit per operation.
 *   engine     engine.advance() transitions (gates evaluated, gate.evaluated + phase.advanced
 *              appended to the hash chain, projections updated, one commit), walked as 18-phase runs.
 *   langgraph  the same 18-phase walk as a LangGraph StateGraph checkpointed by SqliteSaver.
 * They run interleaved twice (raw, engine, langgraph, raw, engine, langgraph) and the better of the
 * two is reported for each, so a noisy neighbour affects all alike. Progress goes to stderr; the
 * table (or with --json one JSON object) goes to stdout. Targets print PASS/FAIL; the exit code is 0
 * unless something broke: the benchmark reports, it is not a test.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { Engine, type Who } from '../src/engine/engine.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { type LoadedTrain, parseTrain } from '../src/train/loader.ts';

const argv = process.argv.slice(2);
const concurrencyAt = argv.indexOf('--concurrency');
/** Walks (and LangGraph runs) in flight at once; the engine's group commit lets them share fsyncs. */
const CONCURRENCY = concurrencyAt >= 0 ? Number(argv[concurrencyAt + 1]) : 16;
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) {
  process.stderr.write('--concurrency needs a positive integer\n');
  process.exit(2);
}
const args = new Set(
  concurrencyAt >= 0 ? argv.filter((_, i) => i !== concurrencyAt && i !== concurrencyAt + 1) : argv,
);
const JSON_OUT = args.has('--json');
/** --quick: a 20th of the counts, to check the benchmark runs (figures are then rough). */
const SCALE = args.has('--quick') ? 1 / 20 : 1;
for (const a of args) {
  if (a !== '--json' && a !== '--quick') {
    process.stderr.write(
      `usage: node bench/engine.bench.ts [--json] [--quick] [--concurrency N]\nunknown argument ${a}\n`,
    );
    process.exit(2);
  }
}

/** Fixed counts, chosen so that each timed run takes roughly 3-8 s on the 2-core reference machine. */
const COUNTS = {
  raw: { warm: 200, n: Math.round(20_000 * SCALE) },
  engine: { warm: 5, n: Math.round(250 * SCALE) },
  langgraph: { warm: 5, n: Math.round(150 * SCALE) },
};
const ROUNDS = 2;
const PHASES = 18;
const ROW_BYTES = 200;

const TARGETS = {
  /** engine transitions/s ≥ this × raw commits/s */
  transitionsVsRaw: 0.5,
  /** engine walks/s ≥ this × LangGraph runs/s */
  walksVsLangGraph: 4,
};

const require = createRequire(import.meta.url);
const TRAIN_FILE = new URL('./fixtures/bench-train.yaml', import.meta.url);
const WHO: Who = { actor: 'bench' };

const log = (msg: string) => {
  process.stderr.write(`${msg}\n`);
};

/** Run task(0..n-1) with at most `width` in flight. */
async function pool(n: number, width: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
}

function tempDir(kind: string): string {
  return mkdtempSync(join(tmpdir(), `vt-bench-${kind}-`));
}

function fail(msg: string): never {
  throw new Error(`benchmark invalid: ${msg}`);
}

/** Open a better-sqlite3 file the way all three measurements need it: WAL, synchronous=FULL. */
function openDurable(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  checkDurable(db.pragma('journal_mode', { simple: true }), db.pragma('synchronous', { simple: true }), file);
  return db;
}

function checkDurable(journal: unknown, synchronous: unknown, what: string): void {
  if (String(journal).toLowerCase() !== 'wal') fail(`${what}: journal_mode is ${journal}, not wal`);
  if (Number(synchronous) !== 2) fail(`${what}: synchronous is ${synchronous}, not 2 (FULL)`);
}

interface Timed {
  /** operations timed (commits, walks or runs) */
  n: number;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------- raw

function row(i: number): string {
  const head = `row ${i} `;
  return head + 'x'.repeat(ROW_BYTES - head.length);
}

function benchRaw(warm: number, n: number): Timed {
  const dir = tempDir('raw');
  try {
    const db = openDurable(join(dir, 'raw.db'));
    db.exec('create table t (id integer primary key, body text)');
    const insert = db.prepare('insert into t (body) values (?)');
    const commit = db.transaction((body: string) => insert.run(body));
    for (let i = 0; i < warm; i++) commit.immediate(row(i));
    const t0 = performance.now();
    for (let i = 0; i < n; i++) commit.immediate(row(warm + i));
    const seconds = (performance.now() - t0) / 1000;
    const count = (db.prepare('select count(*) as c from t').get() as { c: number }).c;
    if (count !== warm + n) fail(`raw: ${count} rows, expected ${warm + n}`);
    db.close();
    return { n, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- engine

interface EngineTimed extends Timed {
  /** time spent inside engine.advance() only */
  advanceSeconds: number;
}

async function benchEngine(train: LoadedTrain, warm: number, n: number, round: number): Promise<EngineTimed> {
  const dir = tempDir('engine');
  const store = await openStore(join(dir, 'vt.db'), { synchronous: 'FULL' });
  try {
    const pragmas = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
    const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db);
    checkDurable(pragmas.rows[0]?.journal_mode, sync.rows[0]?.synchronous, 'engine store');
    const engine = new Engine({ store, io: nodeIo });
    const workspace = join(dir, 'ws');
    mkdirSync(workspace);

    /** One walk: create, record the score, advance through all phases; returns ms inside advance(). */
    const walk = async (id: string): Promise<number> => {
      await engine.createProject({ id, name: `Bench ${id}`, workspace, train }, WHO);
      await engine.setMetric(id, 'score', 0.9, WHO);
      let inAdvance = 0;
      for (let i = 1; i <= PHASES; i++) {
        const t = performance.now();
        const r = await engine.advance(id, WHO);
        inAdvance += performance.now() - t;
        const want = i === PHASES ? 'completed' : 'advanced';
        if (r.outcome.outcome !== want)
          fail(`engine: advance ${i} of ${id} gave ${JSON.stringify(r.outcome)}, expected ${want}`);
      }
      return inAdvance;
    };

    await pool(warm, CONCURRENCY, (i) => walk(`warm-${round}-${i}`));
    const t0 = performance.now();
    await pool(n, CONCURRENCY, (i) => walk(`walk-${round}-${i}`));
    const seconds = (performance.now() - t0) / 1000;
    // With walks in flight together, time inside advance() overlaps: count transitions over wall
    // time instead (conservative: the wall time includes each walk's create and setMetric too).
    const advanceMs = seconds * 1000;

    const done = await store.db
      .selectFrom('projects')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    const moves = await store.db
      .selectFrom('transitions')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .executeTakeFirstOrThrow();
    if (Number(done.c) !== warm + n) fail(`engine: ${done.c} completed projects, expected ${warm + n}`);
    if (Number(moves.c) !== (warm + n) * PHASES)
      fail(`engine: ${moves.c} transitions, expected ${(warm + n) * PHASES}`);
    return { n, seconds, advanceSeconds: advanceMs / 1000 };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------- langgraph

const LineState = Annotation.Root({
  phase: Annotation<string>(),
  score: Annotation<number>(),
  steps: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
});
type LineS = typeof LineState.State;

/**
 * The slice of StateGraph's builder this file uses. Its real types track every node name as a
 * literal type, which a graph built in a loop cannot express; the calls are the documented ones.
 */
interface LineBuilder {
  addNode(name: string, fn: (s: LineS) => Partial<LineS>): LineBuilder;
  addEdge(from: string, to: string): LineBuilder;
  addConditionalEdges(from: string, route: (s: LineS) => string, ends: string[]): LineBuilder;
  compile(opts: { checkpointer: SqliteSaver }): {
    invoke(input: Partial<LineS>, config: { configurable: { thread_id: string } }): Promise<LineS>;
  };
}

async function benchLangGraph(warm: number, n: number, round: number): Promise<Timed> {
  const dir = tempDir('langgraph');
  const db = openDurable(join(dir, 'checkpoints.db'));
  try {
    const checkpointer = new SqliteSaver(db);
    const names = Array.from({ length: PHASES }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);
    let gatesPassed = 0;
    let g = new StateGraph(LineState) as unknown as LineBuilder;
    for (const name of names) g = g.addNode(name, () => ({ phase: name, score: 0.9, steps: 1 }));
    g = g.addEdge(START, names[0]!);
    names.forEach((name, i) => {
      const next = names[i + 1] ?? END;
      // The exit gate of each phase: score >= 0.5 moves on, anything else stops the run short.
      g = g.addConditionalEdges(
        name,
        (s) => {
          if (s.score >= 0.5) {
            gatesPassed++;
            return next;
          }
          return END;
        },
        next === END ? [END] : [next, END],
      );
    });
    const graph = g.compile({ checkpointer });

    const run = async (threadId: string) => {
      const out = await graph.invoke(
        { phase: 'start', score: 0.9 },
        { configurable: { thread_id: threadId } },
      );
      if (out.phase !== names.at(-1) || out.steps !== PHASES)
        fail(`langgraph: run ${threadId} ended ${JSON.stringify(out)}`);
    };

    await pool(warm, CONCURRENCY, (i) => run(`warm-${round}-${i}`));
    const t0 = performance.now();
    await pool(n, CONCURRENCY, (i) => run(`run-${round}-${i}`));
    const seconds = (performance.now() - t0) / 1000;
    if (gatesPassed !== (warm + n) * PHASES)
      fail(`langgraph: ${gatesPassed} gates passed, expected ${(warm + n) * PHASES}`);

    // The saver set journal_mode=WAL itself; make sure nothing turned synchronous down meanwhile.
    checkDurable(
      db.pragma('journal_mode', { simple: true }),
      db.pragma('synchronous', { simple: true }),
      'saver',
    );
    const threads = (
      db.prepare('select count(distinct thread_id) as c from checkpoints').get() as { c: number }
    ).c;
    if (threads !== warm + n) fail(`langgraph: ${threads} threads checkpointed, expected ${warm + n}`);
    return { n, seconds };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------- report

function version(pkg: string): string {
  const dirs = require.resolve.paths(pkg) ?? [];
  for (const d of dirs) {
    try {
      return (JSON.parse(readFileSync(join(d, pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {}
  }
  return 'unknown';
}

const rate = (t: Timed, per = 1) => (t.n * per) / t.seconds;
const fmt = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const train = parseTrain(readFileSync(TRAIN_FILE, 'utf8'), 'bench/fixtures/bench-train.yaml');
  if (train.train.phases.length !== PHASES) fail(`the bench train has ${train.train.phases.length} phases`);

  const sqliteVersion = (() => {
    const db = new Database(':memory:');
    const v = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
    db.close();
    return v;
  })();

  const raw: Timed[] = [];
  const eng: EngineTimed[] = [];
  const lg: Timed[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r = benchRaw(COUNTS.raw.warm, COUNTS.raw.n);
    raw.push(r);
    log(`round ${round} raw:       ${fmt(rate(r))} commits/s (${r.n} in ${r.seconds.toFixed(2)} s)`);
    const e = await benchEngine(train, COUNTS.engine.warm, COUNTS.engine.n, round);
    eng.push(e);
    log(
      `round ${round} engine:    ${fmt((e.n * PHASES) / e.advanceSeconds)} transitions/s, ${fmt(rate(e), 1)} walks/s (${e.n} in ${e.seconds.toFixed(2)} s)`,
    );
    const l = await benchLangGraph(COUNTS.langgraph.warm, COUNTS.langgraph.n, round);
    lg.push(l);
    log(`round ${round} langgraph: ${fmt(rate(l), 1)} runs/s (${l.n} in ${l.seconds.toFixed(2)} s)`);
  }

  const best = <T extends Timed>(xs: T[], by: (x: T) => number) =>
    xs.reduce((a, b) => (by(b) > by(a) ? b : a));
  const rawBest = best(raw, (x) => rate(x));
  const transitionsPerS = (e: EngineTimed) => (e.n * PHASES) / e.advanceSeconds;
  const engT = best(eng, transitionsPerS);
  const engW = best(eng, (x) => rate(x));
  const lgBest = best(lg, (x) => rate(x));

  const figures = {
    raw: { commitsPerSecond: rate(rawBest), commits: rawBest.n, seconds: rawBest.seconds },
    engine: {
      transitionsPerSecond: transitionsPerS(engT),
      walksPerSecond: rate(engW),
      /** transitions over the whole walk's time, create and setMetric included */
      transitionsPerSecondWholeWalk: rate(engW, PHASES),
      msPerTransition: (engT.advanceSeconds * 1000) / (engT.n * PHASES),
      walks: engW.n,
      seconds: engW.seconds,
    },
    langgraph: {
      runsPerSecond: rate(lgBest),
      stepsPerSecond: rate(lgBest, PHASES),
      runs: lgBest.n,
      seconds: lgBest.seconds,
    },
  };
  const ratios = {
    engineTransitionsOverRawCommits: figures.engine.transitionsPerSecond / figures.raw.commitsPerSecond,
    engineWalksOverLangGraphRuns: figures.engine.walksPerSecond / figures.langgraph.runsPerSecond,
  };
  const targets = [
    {
      name: 'engine transitions/s >= 0.5 x raw commits/s',
      ratio: ratios.engineTransitionsOverRawCommits,
      target: TARGETS.transitionsVsRaw,
      pass: ratios.engineTransitionsOverRawCommits >= TARGETS.transitionsVsRaw,
    },
    {
      name: 'engine walks/s >= 4 x LangGraph runs/s',
      ratio: ratios.engineWalksOverLangGraphRuns,
      target: TARGETS.walksVsLangGraph,
      pass: ratios.engineWalksOverLangGraphRuns >= TARGETS.walksVsLangGraph,
    },
  ];
  const versions = {
    node: process.versions.node,
    'better-sqlite3': version('better-sqlite3'),
    sqlite: sqliteVersion,
    '@langchain/langgraph': version('@langchain/langgraph'),
    '@langchain/langgraph-checkpoint-sqlite': version('@langchain/langgraph-checkpoint-sqlite'),
    '@langchain/langgraph-checkpoint': version('@langchain/langgraph-checkpoint'),
    '@langchain/core': version('@langchain/core'),
  };
  const setup = {
    cpus: cpus().length,
    tmpdir: tmpdir(),
    synchronous: 'FULL',
    concurrency: CONCURRENCY,
    journalMode: 'WAL',
    rounds: ROUNDS,
    phases: PHASES,
    counts: COUNTS,
    quick: SCALE !== 1,
    /** LangGraph's default: checkpoints are written while the next step runs; invoke() awaits them all. */
    langgraphDurability: 'async',
  };
  const perRound = {
    rawCommitsPerSecond: raw.map((x) => rate(x)),
    engineTransitionsPerSecond: eng.map(transitionsPerS),
    engineWalksPerSecond: eng.map((x) => rate(x)),
    langgraphRunsPerSecond: lg.map((x) => rate(x)),
  };

  if (JSON_OUT) {
    process.stdout.write(
      `${JSON.stringify({ versions, setup, figures, ratios, targets, perRound }, null, 2)}\n`,
    );
    return;
  }
  const lines = [
    `vt engine benchmark (best of ${ROUNDS} interleaved rounds; WAL, synchronous=FULL, ${CONCURRENCY} walks/runs in flight, ${tmpdir()})`,
    `node ${versions.node}, better-sqlite3 ${versions['better-sqlite3']}, sqlite ${versions.sqlite}, ` +
      `@langchain/langgraph ${versions['@langchain/langgraph']}, ` +
      `@langchain/langgraph-checkpoint-sqlite ${versions['@langchain/langgraph-checkpoint-sqlite']}`,
    '',
    'measurement  figure                                      value',
    `raw          commits/s                            ${fmt(figures.raw.commitsPerSecond).padStart(12)}`,
    `engine       transitions/s (wall time)            ${fmt(figures.engine.transitionsPerSecond).padStart(12)}`,
    `engine       ms per transition                    ${fmt(figures.engine.msPerTransition, 3).padStart(12)}`,
    `engine       walks/s (create+metric+${PHASES} advances)  ${fmt(figures.engine.walksPerSecond, 1).padStart(12)}`,
    `langgraph    runs/s (${PHASES} nodes)                    ${fmt(figures.langgraph.runsPerSecond, 1).padStart(12)}`,
    `langgraph    steps/s                              ${fmt(figures.langgraph.stepsPerSecond).padStart(12)}`,
    '',
    ...targets.map(
      (t) => `${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ratio ${t.ratio.toFixed(2)} (target ${t.target})`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
