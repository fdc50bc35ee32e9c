/**
 * Where one engine.advance() spends its time: `node bench/advance-breakdown.ts [walks]`.
 *
 * A diagnostic companion to engine.bench.ts (not part of `npm run bench`). On the same 18-phase
 * bench train it walks projects on a store opened with synchronous FULL and then NORMAL (NORMAL
 * skips the fsync at each WAL commit, so FULL − NORMAL ≈ the cost of durability), and reports:
 *   - transitions/s (time inside advance() only),
 *   - the time inside SQLite per statement, per advance (better-sqlite3's prepare is wrapped),
 *   - WAL frames (pages) written per advance, against one frame for a raw single-row commit.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { Engine, type Who } from '../src/engine/engine.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';

const WALKS = Number(process.argv[2] ?? 150);
const PHASES = 18;
const WHO: Who = { actor: 'bench' };
const train = parseTrain(
  readFileSync(new URL('./fixtures/bench-train.yaml', import.meta.url), 'utf8'),
  'bench/fixtures/bench-train.yaml',
);

// Time every statement the store runs, keyed by its SQL text, while `timing` is on.
interface Timing {
  n: number;
  ms: number;
}
const stats = new Map<string, Timing>();
let timing = false;
type Stmt = {
  reader: boolean;
  all(...a: unknown[]): unknown[];
  get(...a: unknown[]): unknown;
  run(...a: unknown[]): unknown;
};
const proto = Database.prototype as unknown as { prepare(this: unknown, text: string): Stmt };
const prepare = proto.prepare;
proto.prepare = function (this: unknown, text: string): Stmt {
  const stmt = prepare.call(this, text);
  const key = text.replace(/\s+/g, ' ').slice(0, 100);
  const timed =
    <F extends 'all' | 'get' | 'run'>(fn: F) =>
    (...a: unknown[]) => {
      const t = performance.now();
      try {
        return stmt[fn](...a);
      } finally {
        if (timing) {
          const s = stats.get(key) ?? { n: 0, ms: 0 };
          s.n++;
          s.ms += performance.now() - t;
          stats.set(key, s);
        }
      }
    };
  return { reader: stmt.reader, all: timed('all') as Stmt['all'], get: timed('get'), run: timed('run') };
};

async function measure(synchronous: 'FULL' | 'NORMAL'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-breakdown-'));
  const file = join(dir, 'vt.db');
  const store = await openStore(file, { synchronous });
  const engine = new Engine({ store, io: nodeIo });
  mkdirSync(join(dir, 'ws'));
  let k = 0;
  let advanceMs = 0;
  const walk = async (measured: boolean) => {
    const id = `w-${k++}`;
    await engine.createProject({ id, name: id, workspace: join(dir, 'ws'), train }, WHO);
    await engine.setMetric(id, 'score', 0.9, WHO);
    timing = measured;
    for (let i = 1; i <= PHASES; i++) {
      const t = performance.now();
      const r = await engine.advance(id, WHO);
      if (measured) advanceMs += performance.now() - t;
      if (r.outcome.outcome !== (i === PHASES ? 'completed' : 'advanced'))
        throw new Error(`advance ${i} of ${id}: ${JSON.stringify(r.outcome)}`);
    }
    timing = false;
  };
  try {
    for (let i = 0; i < 10; i++) await walk(false);
    stats.clear();
    for (let i = 0; i < WALKS; i++) await walk(true);
    const advances = WALKS * PHASES;

    // WAL frames per walk: stop automatic checkpoints and watch the WAL grow.
    await sql`pragma wal_checkpoint(truncate)`.execute(store.db);
    await sql`pragma wal_autocheckpoint = 0`.execute(store.db);
    const before = statSync(`${file}-wal`).size;
    const probe = 10;
    for (let i = 0; i < probe; i++) await walk(false);
    const frames = (statSync(`${file}-wal`).size - before) / (4096 + 24) / probe;

    const us = (ms: number) => ((ms * 1000) / advances).toFixed(1).padStart(7);
    let inSqlite = 0;
    const lines = [...stats].sort((a, b) => b[1].ms - a[1].ms);
    for (const [, s] of lines) inSqlite += s.ms;
    process.stdout.write(
      `\n== synchronous=${synchronous}: ${((advances / advanceMs) * 1000).toFixed(0)} transitions/s, ` +
        `${((advanceMs * 1000) / advances).toFixed(0)} us per advance, ` +
        `${us(inSqlite).trim()} us of it inside SQLite; ~${frames.toFixed(1)} WAL frames per walk ` +
        `(${PHASES + 2} commits)\n`,
    );
    for (const [text, s] of lines)
      process.stdout.write(`${us(s.ms)} us  x${(s.n / advances).toFixed(1)}  ${text}\n`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await measure('FULL');
await measure('NORMAL');
