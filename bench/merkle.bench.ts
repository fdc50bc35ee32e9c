/**
 * What the Merkle log and its checkpoints cost: `node bench/merkle.bench.ts [--json] [--quick] [--turns N]`.
 *
 * The engine's durable transition rate (engine.advance(): gates evaluated, events appended to the
 * chain, projections updated, one commit; WAL, synchronous=FULL), walked as 18-phase runs with 16
 * walks in flight as in bench/engine.bench.ts, in three variants, each on its own temp store:
 *   reference   the engine with the global log's sequencer replaced by a no-op (the engine before the log)
 *   log         the engine as shipped: each append moves the Merkle log in the same transaction
 *   log+ckpt    as shipped with the checkpointer attached: a signed checkpoint after passed gates
 *               (here nearly every commit), at most about once a second, and the one owed at the
 *               end of every turn (flush, as a command does before it exits)
 * The three run in turns of 16 walks (reference, log, log+ckpt, then rotated), many turns, and the
 * time of each turn goes to its variant: a noisy neighbour slows all three alike, which whole runs
 * one after the other (minutes apart) do not ensure on a shared machine; the median of the paired
 * per-turn ratios is printed beside the totals. Target: log+ckpt ≥ 0.9 × reference. Progress goes
 * to stderr; the table (or with --json one JSON object) to stdout; exit 0 unless something broke:
 * the benchmark reports, it is not a test.
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
import { appendEvents, unlogged } from '../src/store/append.ts';
import { readLogState } from '../src/store/merkle-log.ts';
import { project } from '../src/store/projector.ts';
import { openStore, type Store, type Trx } from '../src/store/store.ts';
import { type LoadedTrain, parseTrain } from '../src/train/loader.ts';

const argv = process.argv.slice(2);
const turnsAt = argv.indexOf('--turns');
const TURNS_ASKED = turnsAt >= 0 ? Number(argv[turnsAt + 1]) : null;
const args = new Set(turnsAt >= 0 ? argv.filter((_, i) => i !== turnsAt && i !== turnsAt + 1) : argv);
const JSON_OUT = args.has('--json');
const QUICK = args.has('--quick');
for (const a of args) {
  if (a !== '--json' && a !== '--quick') {
    process.stderr.write(
      `usage: node bench/merkle.bench.ts [--json] [--quick] [--turns N]\nunknown argument ${a}\n`,
    );
    process.exit(2);
  }
}
if (TURNS_ASKED !== null && !(Number.isInteger(TURNS_ASKED) && TURNS_ASKED >= 2)) {
  process.stderr.write('--turns takes a whole number of at least 2 (the first turn is a warm-up)\n');
  process.exit(2);
}

const CONCURRENCY = 16;
const PHASES = 18;
/** Turns of 16 walks per variant (the first is a warm-up, not counted); more turns, less noise. */
const TURNS = TURNS_ASKED ?? (QUICK ? 3 : 16);
const TARGET = 0.9;
const TRAIN_FILE = new URL('./fixtures/bench-train.yaml', import.meta.url);
const WHO: Who = { actor: 'bench' };

type Variant = 'reference' | 'log' | 'log+ckpt';
const VARIANTS: Variant[] = ['reference', 'log', 'log+ckpt'];

const log = (msg: string) => process.stderr.write(`${msg}\n`);
function fail(msg: string): never {
  throw new Error(`benchmark invalid: ${msg}`);
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
      unlogged,
    );
    for (const [i, e] of recorded.entries()) await project(trx, e, { head: i === recorded.length - 1 });
    return recorded;
  }
}

interface Subject {
  variant: Variant;
  dir: string;
  store: Store;
  engine: Engine;
  checkpointer: Checkpointer | null;
  workspace: string;
  /** Summed over the counted turns. */
  walks: number;
  seconds: number;
  cpuSeconds: number;
  /** Each counted turn's seconds, in turn order (the variants' turns are paired by index). */
  turns: number[];
}

async function open(variant: Variant): Promise<Subject> {
  const dir = mkdtempSync(join(tmpdir(), `vt-bench-merkle-${variant.replace('+', '-')}-`));
  const store = await openStore(join(dir, 'vt.db'), { synchronous: 'FULL' });
  const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db);
  if (Number(sync.rows[0]?.synchronous) !== 2) fail('the store is not synchronous=FULL');
  const engine =
    variant === 'reference' ? new UnloggedEngine({ store, io: nodeIo }) : new Engine({ store, io: nodeIo });
  const workspace = join(dir, 'ws');
  mkdirSync(workspace, { recursive: true });
  let checkpointer: Checkpointer | null = null;
  if (variant === 'log+ckpt') {
    const keyFile = join(dir, 'key', 'log.ed25519');
    createLogKey(keyFile, { name: 'bench.vt/log' });
    checkpointer = new Checkpointer({
      store,
      dir: new AuditDir(join(workspace, 'audit')),
      keyFile,
      workspace,
      warn: (m) => fail(`checkpoint warning: ${m}`),
    });
    engine.onCommitted(checkpointer.onCommitted);
  }
  return {
    variant,
    dir,
    store,
    engine,
    checkpointer,
    workspace,
    walks: 0,
    seconds: 0,
    cpuSeconds: 0,
    turns: [],
  };
}

/** One turn: 16 walks at once (create, record the score, advance through all phases), timed. */
async function turn(s: Subject, train: LoadedTrain, t: number): Promise<void> {
  const walk = async (id: string) => {
    // Real work (executors, git, people) lets the event loop turn; a loop of commits alone never
    // would, and checkpoint files (written off the event loop) would wait. One turn per walk, in
    // every variant.
    await new Promise(setImmediate);
    await s.engine.createProject({ id, name: `Bench ${id}`, workspace: s.workspace, train }, WHO);
    await s.engine.setMetric(id, 'score', 0.9, WHO);
    for (let i = 1; i <= PHASES; i++) {
      const r = await s.engine.advance(id, WHO);
      const want = i === PHASES ? 'completed' : 'advanced';
      if (r.outcome.outcome !== want) fail(`${s.variant}: advance ${i} of ${id} gave ${r.outcome.outcome}`);
    }
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => walk(`t${t}-${i}`)));
  await s.checkpointer?.flush();
  const cpu = process.cpuUsage(cpu0);
  if (t === 0) return; // warm-up
  s.walks += CONCURRENCY;
  const seconds = (performance.now() - t0) / 1000;
  s.seconds += seconds;
  s.turns.push(seconds);
  s.cpuSeconds += (cpu.user + cpu.system) / 1e6;
}

/** Every walk completed, every transition recorded, the log holds every event, the latest checkpoint covers all. */
async function check(s: Subject): Promise<number> {
  const walks = TURNS * CONCURRENCY;
  const count = async (table: 'transitions' | 'events') =>
    Number(
      (
        await s.store.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('c'))
          .executeTakeFirstOrThrow()
      ).c,
    );
  if ((await count('transitions')) !== walks * PHASES) fail(`${s.variant}: transitions missing`);
  const events = await count('events');
  const { size } = (await readLogState(s.store.db)).range;
  if (size !== (s.variant === 'reference' ? 0 : events))
    fail(`${s.variant}: the log holds ${size} leaves of ${events} events`);
  if (!s.checkpointer) return 0;
  await s.checkpointer.close();
  const files = readdirSync(join(s.workspace, 'audit', 'checkpoints')).sort();
  if (files.at(-1) !== `${String(events).padStart(12, '0')}.ckpt`)
    fail(`${s.variant}: the latest checkpoint ${files.at(-1)} does not cover all ${events} events`);
  return files.length;
}

const transitionsPerS = (s: Subject) => (s.walks * PHASES) / s.seconds;
/**
 * The median over turns of reference seconds / variant seconds: turn t of each variant ran back to
 * back, so a burst of other load on the machine skews one pair, where it would skew a sum.
 */
function medianTurnRatio(s: Subject, ref: Subject): number {
  const r = s.turns.map((sec, t) => ref.turns[t]! / sec).sort((a, b) => a - b);
  const m = r.length >> 1;
  return r.length % 2 ? r[m]! : (r[m - 1]! + r[m]!) / 2;
}
const cpuUsPerTransition = (s: Subject) => (s.cpuSeconds * 1e6) / (s.walks * PHASES);
const fmt = (x: number, d = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

async function main(): Promise<void> {
  const train = parseTrain(readFileSync(TRAIN_FILE, 'utf8'), 'bench/fixtures/bench-train.yaml');
  const subjects = await Promise.all(VARIANTS.map(open));
  try {
    for (let t = 0; t < TURNS; t++) {
      // Rotate who goes first, so no variant always follows the same one.
      for (let k = 0; k < subjects.length; k++) await turn(subjects[(t + k) % subjects.length]!, train, t);
      if (t > 0 && t % 4 === 0)
        log(
          `turn ${t}/${TURNS - 1}: ${subjects.map((s) => `${s.variant} ${fmt(transitionsPerS(s))}/s`).join(', ')}`,
        );
    }
    const checkpoints = Object.fromEntries(
      await Promise.all(subjects.map(async (s) => [s.variant, await check(s)] as const)),
    );
    const ref = subjects[0]!;
    const figures = Object.fromEntries(
      subjects.map((s) => [
        s.variant,
        {
          transitionsPerSecond: transitionsPerS(s),
          ratioToReference: transitionsPerS(s) / transitionsPerS(ref),
          medianTurnRatio: medianTurnRatio(s, ref),
          cpuUsPerTransition: cpuUsPerTransition(s),
          cpuRatioToReference: cpuUsPerTransition(s) / cpuUsPerTransition(ref),
          walks: s.walks,
          seconds: s.seconds,
          checkpoints: checkpoints[s.variant] ?? 0,
        },
      ]),
    ) as Record<
      Variant,
      {
        transitionsPerSecond: number;
        ratioToReference: number;
        medianTurnRatio: number;
        cpuUsPerTransition: number;
        cpuRatioToReference: number;
        walks: number;
        seconds: number;
        checkpoints: number;
      }
    >;
    const targets = (['log+ckpt', 'log'] as const).map((v) => ({
      name: `${v} transitions/s >= ${TARGET} x reference`,
      ratio: figures[v].ratioToReference,
      pass: figures[v].ratioToReference >= TARGET,
    }));
    const setup = {
      node: process.versions.node,
      cpus: cpus().length,
      tmpdir: tmpdir(),
      synchronous: 'FULL',
      concurrency: CONCURRENCY,
      turns: TURNS,
      phases: PHASES,
      quick: QUICK,
    };
    if (JSON_OUT) {
      process.stdout.write(`${JSON.stringify({ setup, figures, targets }, null, 2)}\n`);
      return;
    }
    const lines = [
      `vt Merkle log benchmark (${TURNS - 1} counted turns of ${CONCURRENCY} walks per variant, interleaved; WAL, synchronous=FULL, ${tmpdir()})`,
      '',
      'variant      transitions/s   × reference   median turn ×   CPU us/transition   × reference   checkpoints',
      ...VARIANTS.map((v) => {
        const f = figures[v];
        return `${v.padEnd(12)} ${fmt(f.transitionsPerSecond).padStart(13)}   ${f.ratioToReference.toFixed(2).padStart(11)}   ${f.medianTurnRatio.toFixed(2).padStart(13)}   ${fmt(f.cpuUsPerTransition).padStart(17)}   ${f.cpuRatioToReference.toFixed(2).padStart(11)}   ${String(f.checkpoints || '').padStart(11)}`;
      }),
      '',
      ...targets.map((t) => `${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ratio ${t.ratio.toFixed(2)}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const s of subjects) {
      await s.checkpointer?.close();
      await s.store.close();
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

await main();
