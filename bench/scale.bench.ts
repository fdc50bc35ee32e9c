/**
 * Costs that should stay flat as work grows, on SQLite and PostgreSQL:
 * `node bench/scale.bench.ts [--backend sqlite|postgres|both] [--quick] [--json]`.
 *
 * 1. Claims: a queue of N tickets (over 100 projects) for each size is built through the engine
 *    (then, on PostgreSQL, ANALYZE); then all are drained in turns of 50: the claim latency (one
 *    claimNext) and the drain time per ticket (claimNext + awaitHuman, which releases the lease)
 *    over the first DRAIN tickets of each. Target: drain time per ticket at 100k within 1.2× of 1k.
 * 2. History: `vt status` and `vt metric set` as real CLI processes on a project with 10 events and
 *    on one with 100k. Target: within 1.2×.
 * 3. Audit: `vt audit verify` as a CLI process over stores of 10k and 1M events: peak memory.
 *    Target: flat (within 1.2×).
 * PostgreSQL: VT_BENCH_PG_URL names a server (its maintenance database), else a throwaway one is
 * started (test/pg.ts); it runs with fsync off, so PostgreSQL figures are CPU and round trips.
 */

import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { Engine } from '../src/engine/engine.ts';
import { event, type NewEvent, type RecordedEvent } from '../src/engine/events.ts';
import { evolve } from '../src/engine/state.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { decideAddIssue } from '../src/engine/tickets.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const QUICK = flag('--quick');
const BACKENDS = (opt('--backend', 'both') === 'both' ? ['sqlite', 'postgres'] : [opt('--backend', '')]) as (
  | 'sqlite'
  | 'postgres'
)[];
const QUEUES = opt('--queues', QUICK ? '1000,10000' : '1000,10000,100000')
  .split(',')
  .map(Number);
const DRAIN = Number(opt('--drain', QUICK ? '300' : '1000'));
const HISTORY = Number(opt('--history', QUICK ? '20000' : '100000'));
const VERIFY = opt('--verify', QUICK ? '10000,100000' : '10000,100000,1000000')
  .split(',')
  .map(Number);
const PARTS = opt('--parts', 'claims,history,verify').split(',');
const PROJECTS = 100;
const WHO = { actor: 'bench' };
const ROOT = new URL('..', import.meta.url).pathname;
const TRAIN_FILE = join(ROOT, 'bench', 'fixtures', 'bench-train.yaml');
const train = parseTrain(readFileSync(TRAIN_FILE, 'utf8'), TRAIN_FILE);
const log = (s: string) => process.stderr.write(`${s}\n`);

async function freshTarget(backend: 'sqlite' | 'postgres', dir: string, name: string): Promise<string> {
  if (backend === 'sqlite') return join(dir, `${name}.db`);
  const pg = await import('../test/pg.ts');
  if (process.env.VT_BENCH_PG_URL) process.env.VT_TEST_PG_URL = process.env.VT_BENCH_PG_URL;
  return pg.freshPgUrl();
}

async function open(target: string): Promise<{ store: Store; engine: Engine; tickets: Tickets }> {
  const store = await openStore(target, { synchronous: 'NORMAL' });
  const engine = new Engine({ store, io: nodeIo });
  return { store, engine, tickets: new Tickets(engine) };
}

/** Run `fn` over items with `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/**
 * Queue `count` issues in one command: the pure core decides each one against the state folded
 * so far (so ids and numbers follow on), and the engine appends them together.
 */
async function queueIssues(engine: Engine, id: string, from: number, count: number): Promise<void> {
  const priorities = ['now', 'next', 'future'] as const;
  await engine.decide(id, WHO, (s, t) => {
    const draft = structuredClone(s);
    const out: NewEvent[] = [];
    for (let k = from; k < from + count; k++) {
      for (const e of decideAddIssue(draft, t, { title: `t${k}`, priority: priorities[k % 3] })) {
        out.push(e);
        evolve(draft, {
          ...e,
          project_id: id,
          seq: draft.seq + 1,
          ts: '',
          actor: WHO.actor,
          hash: '',
        } as RecordedEvent);
      }
    }
    return out;
  });
}

/** A queue of n tickets over 100 projects, built through the engine, ready to drain. */
async function buildQueue(backend: 'sqlite' | 'postgres', dir: string, n: number) {
  const target = await freshTarget(backend, dir, `queue-${n}-${Date.now()}`);
  const { store, engine, tickets } = await open(target);
  const ids = Array.from({ length: PROJECTS }, (_, i) => `q${i}`);
  for (const id of ids) await engine.createProject({ id, name: id, workspace: dir, train }, WHO);
  const t0 = performance.now();
  const per = Math.ceil(n / PROJECTS);
  await pool(ids, 4, async (id) => {
    for (let k = 0; k < per; k += 100) await queueIssues(engine, id, k, Math.min(100, per - k));
  });
  log(`  [${backend}] queued ${per * PROJECTS} tickets in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  // The steady state a running store is in: PostgreSQL's planner statistics taken after the queue
  // grew (autovacuum does it within a minute or so; a queue drained at once would be planned on
  // the statistics of an empty table).
  if (backend === 'postgres') await sql`analyze`.execute(store.db);
  return { queued: per * PROJECTS, store, tickets, latencies: [] as number[], ms: 0, drained: 0 };
}

/** Claim (and release to a person) up to `k` more tickets of a queue, timed. */
async function drainSome(q: Awaited<ReturnType<typeof buildQueue>>, k: number): Promise<void> {
  const d0 = performance.now();
  for (let i = 0; i < k && q.drained < Math.min(DRAIN, q.queued); i++, q.drained++) {
    const c0 = performance.now();
    const c = await q.tickets.claimNext('bench', { leaseMs: 600_000 });
    q.latencies.push(performance.now() - c0);
    if (!c) throw new Error('benchmark invalid: the queue ran dry');
    await q.tickets.awaitHuman(c, 'bench', WHO);
  }
  q.ms += performance.now() - d0;
}

/**
 * Every queue size built first, then drained in turns of 50 claims (rotating which queue goes
 * first): load on the machine then slows every size alike, where drains minutes apart did not.
 */
async function claims(backend: 'sqlite' | 'postgres', dir: string, sizes: readonly number[]) {
  const queues = [];
  for (const n of sizes) queues.push(await buildQueue(backend, dir, n));
  for (let turn = 0; queues.some((q) => q.drained < Math.min(DRAIN, q.queued)); turn++)
    for (let k = 0; k < queues.length; k++) await drainSome(queues[(turn + k) % queues.length]!, 50);
  const out = [];
  for (const q of queues) {
    await q.store.close();
    q.latencies.sort((a, b) => a - b);
    out.push({
      queued: q.queued,
      claimMsMedian: q.latencies[Math.floor(q.latencies.length / 2)]!,
      claimMsP95: q.latencies[Math.floor(q.latencies.length * 0.95)]!,
      drainMsPerTicket: q.ms / q.drained,
      drained: q.drained,
    });
  }
  return out;
}

/**
 * Run the real CLI; returns wall time, CPU time (user + system: far less disturbed than wall time
 * by other load on a shared machine) and the process's peak resident memory.
 */
function cli(
  argv: string[],
  env: Record<string, string>,
  nodeFlags: string[] = [],
): Promise<{ ms: number; cpuMs: number; rssMiB: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const hook = `data:text/javascript,process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('MAXRSS '+u.maxRSS+' CPU '+(u.userCPUTime+u.systemCPUTime)+'\\n')})`;
    const child = spawn(
      process.execPath,
      [...nodeFlags, '--import', hook, join(ROOT, 'bin', 'vt.js'), ...argv],
      {
        env: { ...process.env, NO_COLOR: '1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      // The hook runs in worker threads too (they inherit the flags); the process's own line is last.
      const m = [...err.matchAll(/MAXRSS (\d+) CPU (\d+)/g)].at(-1);
      if (code !== 0 && code !== 1) return reject(new Error(`vt ${argv.join(' ')} exited ${code}: ${err}`));
      if (!m) return reject(new Error(`no resource usage from vt ${argv.join(' ')}: ${err}`));
      resolve({ ms, cpuMs: Number(m[2]) / 1000, rssMiB: Number(m[1]) / 1024, out, err });
    });
  });
}

/** A project with `n` events: metric recordings, 1,000 per command (one engine.decide each). */
async function projectWithEvents(engine: Engine, id: string, dir: string, n: number): Promise<void> {
  await engine.createProject({ id, name: id, workspace: dir, train }, WHO);
  let left = n - 1;
  let v = 0;
  while (left > 0) {
    const k = Math.min(1000, left);
    await engine.decide(id, WHO, (s) =>
      Array.from({ length: k }, () =>
        event('metric.recorded', { name: 'score', phase: s.phase, visit: s.visit, value: (v++ % 100) / 100 }),
      ),
    );
    left -= k;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function history(backend: 'sqlite' | 'postgres', dir: string) {
  const target = await freshTarget(backend, dir, 'history');
  const { store, engine } = await open(target);
  await projectWithEvents(engine, 'small', dir, 10);
  const t0 = performance.now();
  await projectWithEvents(engine, 'big', dir, HISTORY);
  log(`  [${backend}] ${HISTORY} events in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  await store.close();
  const env = { VT_DATABASE_URL: target, VT_SQLITE_SYNCHRONOUS: 'NORMAL' };
  const out: Record<
    string,
    { small: number; big: number; smallCpu: number; bigCpu: number; smallRss: number; bigRss: number }
  > = {};
  for (const [name, argv] of [
    ['status', (p: string) => ['status', p, '--json']],
    ['metric set', (p: string) => ['metric', 'set', p, 'score', '0.5']],
  ] as const) {
    const runs: Record<'small' | 'big', { ms: number; cpuMs: number; rssMiB: number }[]> = {
      small: [],
      big: [],
    };
    for (let r = 0; r < 9; r++)
      for (const p of ['small', 'big'] as const) runs[p].push(await cli([...argv(p), '-C', dir], env));
    out[name] = {
      small: median(runs.small.map((x) => x.ms)),
      big: median(runs.big.map((x) => x.ms)),
      smallCpu: median(runs.small.map((x) => x.cpuMs)),
      bigCpu: median(runs.big.map((x) => x.cpuMs)),
      smallRss: median(runs.small.map((x) => x.rssMiB)),
      bigRss: median(runs.big.map((x) => x.rssMiB)),
    };
  }
  return out;
}

async function verify(backend: 'sqlite' | 'postgres', dir: string, n: number) {
  const target = await freshTarget(backend, dir, `verify-${n}`);
  const { store, engine } = await open(target);
  const perProject = 10_000;
  const ids = Array.from({ length: Math.ceil(n / perProject) }, (_, i) => `v${i}`);
  const t0 = performance.now();
  await pool(ids, 4, (id) => projectWithEvents(engine, id, dir, Math.min(perProject, n)));
  log(`  [${backend}] ${n} events for verify in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  await store.close();
  const argv = ['audit', 'verify', '--json', '-C', dir];
  // The check runs in a worker thread with a bounded heap (src/audit/verify-bounded.ts); a run that
  // outgrew the bound and checked again without it would not measure that.
  const r = await cli(argv, { VT_DATABASE_URL: target });
  if (/without a bound/.test(r.err))
    throw new Error(`benchmark invalid: the bounded check gave up: ${r.err}`);
  const checked = JSON.parse(r.out).checked as number;
  if (checked !== ids.length * Math.min(perProject, n))
    throw new Error(`benchmark invalid: verified ${checked}`);
  return { events: n, ms: r.ms, cpuMs: r.cpuMs, rssMiB: r.rssMiB };
}

const results: Record<string, unknown> = {};
for (const backend of BACKENDS) {
  const dir = mkdtempSync(join(tmpdir(), `vt-bench-scale-${backend}-`));
  cpSync(TRAIN_FILE, join(dir, 'vt.yaml'));
  log(`== ${backend}`);
  const c = PARTS.includes('claims') ? await claims(backend, dir, [...new Set(QUEUES)]) : [];
  for (const x of c) log(`  [${backend}] claims at ${x.queued}: ${JSON.stringify(x)}`);
  const h = PARTS.includes('history') ? await history(backend, dir) : null;
  log(`  [${backend}] history: ${JSON.stringify(h)}`);
  const v = [];
  for (const n of PARTS.includes('verify') ? VERIFY : []) {
    v.push(await verify(backend, dir, n));
    log(`  [${backend}] verify: ${JSON.stringify(v.at(-1))}`);
  }
  // The reference is the smallest queue, drained in turns with the others.
  const first = c.find((x) => x.queued === Math.min(...c.map((y) => y.queued)));
  const last = c.find((x) => x.queued === Math.max(...c.map((y) => y.queued)));
  results[backend] = {
    claims: c,
    drainRatio: first && last ? last.drainMsPerTicket / first.drainMsPerTicket : null,
    history: h,
    statusRatio: h ? h.status!.bigCpu / h.status!.smallCpu : null,
    metricSetRatio: h ? h['metric set']!.bigCpu / h['metric set']!.smallCpu : null,
    statusWallRatio: h ? h.status!.big / h.status!.small : null,
    metricSetWallRatio: h ? h['metric set']!.big / h['metric set']!.small : null,
    verify: v,
    verifyRssRatio: v.length ? v.at(-1)!.rssMiB / v[0]!.rssMiB : null,
    verifyRssRatioFromSecond: v.length > 2 ? v.at(-1)!.rssMiB / v[1]!.rssMiB : null,
  };
  rmSync(dir, { recursive: true, force: true });
}
if (backendsUsePg()) await (await import('../test/pg.ts')).dropTestDatabases();

function backendsUsePg() {
  return BACKENDS.includes('postgres');
}

const pass = (x: number | null) => (x === null ? '' : x <= 1.2 ? 'PASS' : 'FAIL');
const f2 = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}x`);
if (flag('--json')) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else
  for (const [b, r] of Object.entries(results) as [string, Record<string, number | null>][])
    process.stdout.write(
      `${b}: drain per ticket ${Math.max(...QUEUES)} vs ${Math.min(...QUEUES)} queued: ${f2(r.drainRatio!)} ${pass(r.drainRatio!)}; ` +
        `CPU time at ${HISTORY} vs 10 events: status ${f2(r.statusRatio!)} ${pass(r.statusRatio!)}, ` +
        `metric set ${f2(r.metricSetRatio!)} ${pass(r.metricSetRatio!)}; ` +
        `audit verify peak RSS ${VERIFY.at(-1)} vs ${VERIFY[0]} events: ${f2(r.verifyRssRatio!)} ${pass(r.verifyRssRatio!)} ` +
        `(vs ${VERIFY[1]}: ${f2(r.verifyRssRatioFromSecond!)})\n`,
    );
process.exit(0);
