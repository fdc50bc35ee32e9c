/**
 * vt's queue against a job queue and a bare loop on one PostgreSQL:
 * `node bench/queue.bench.ts [--json] [--quick] [--pg-url URL] [--workers 1,2,4] [--jobs N] [--turns T]
 *  [--real-worker | --no-real-worker] [--cpu-prof-dir DIR]`.
 *
 * Four variants, each with N worker processes (N = 1, 2, 4) on the same server, each its own database:
 *   vt      the claim → finish path of `vt worker` with an executor step that does nothing (see
 *           bench/fixtures/queue-worker.ts): one transition per ticket, 18 per project on
 *           bench/fixtures/bench-train.yaml, the next ticket queued by the transition.
 *   pg-boss boss.fetch + boss.complete of pre-queued no-op jobs, pg-boss's default settings.
 *   bare    BEGIN; SELECT … FOR UPDATE SKIP LOCKED LIMIT 1; UPDATE … done; COMMIT on a plain table.
 *   floor   the rows one transition writes (ticket, lease, four chained events, Merkle nodes, project,
 *           transition, next ticket) and nothing else, as one statement per transaction: the least
 *           any implementation keeping vt's record can do, so the targets can be judged against it.
 * The same number of jobs (tickets) per variant and turn. For each N the three run in turns (rotated
 * so none always follows the same one), the first turn a warm-up; each turn's wall time goes to its
 * variant, so a noisy neighbour weighs on all alike. After every turn each job is checked to have been
 * done exactly once (tickets done, one claim event each, projects completed; pg-boss jobs completed
 * with no retry; bare rows updated once), so the benchmark cannot time a failure.
 * Targets, at every N: vt ≥ 0.5 × bare and vt ≥ 1.5 × pg-boss (transitions or jobs per second, per worker).
 *
 * With --real-worker (the default without --quick) the real `vt worker` CLI runs too: N processes with
 * a no-op command executor (`true`), folder workspaces and the default sandbox, on fewer tickets; its
 * per-ticket cost is workspace, session and process, reported beside the others, not against targets.
 *
 * PostgreSQL: --pg-url, VT_BENCH_PG_URL or VT_TEST_PG_URL names a server (a database it may create
 * databases on); otherwise a throwaway server is started (scripts/pg-throwaway.sh: fsync,
 * synchronous_commit and full_page_writes off) and stopped on exit. Server CPU per job is read from
 * /proc for the server's backends when the server runs on this machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { Who } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { parseTrain } from '../src/train/loader.ts';
import { openVt, type Vt } from '../src/wiring.ts';

const argv = process.argv.slice(2);
const has = (f: string) => argv.includes(f);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const KNOWN_FLAGS = ['--json', '--quick', '--durable', '--waits', '--real-worker', '--no-real-worker'];
const KNOWN_OPTS = ['--pg-url', '--workers', '--jobs', '--turns', '--real-jobs', '--cpu-prof-dir'];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (KNOWN_OPTS.includes(a)) i++;
  else if (!KNOWN_FLAGS.includes(a)) {
    process.stderr.write(
      'usage: node bench/queue.bench.ts [--json] [--quick] [--durable] [--waits] [--pg-url URL] [--workers 1,2,4]\n' +
        '         [--jobs N] [--turns T] [--real-worker | --no-real-worker] [--real-jobs N] [--cpu-prof-dir DIR]\n' +
        `unknown argument ${a}\n`,
    );
    process.exit(2);
  }
}

const JSON_OUT = has('--json');
const QUICK = has('--quick');
const DURABLE = has('--durable');
/** Sample what the workers' server backends wait on, every 10 ms (adds a little load to every variant). */
const WAITS = has('--waits');
const PHASES = 18;
const posInt = (name: string, v: string | undefined, dflt: number) => {
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`${name} needs a positive integer\n`);
    process.exit(2);
  }
  return n;
};
const WORKERS = (opt('--workers') ?? '1,2,4').split(',').map((x) => posInt('--workers', x, 1));
/** Jobs per variant and turn: a whole number of projects (18 tickets each) for vt. */
const JOBS = Math.ceil(posInt('--jobs', opt('--jobs'), QUICK ? 180 : 1080) / PHASES) * PHASES;
/** Turns per worker count, the first a warm-up. */
const TURNS = Math.max(2, posInt('--turns', opt('--turns'), QUICK ? 2 : 4));
const REAL = has('--real-worker') || (!QUICK && !has('--no-real-worker'));
const REAL_JOBS = Math.ceil(posInt('--real-jobs', opt('--real-jobs'), 72) / PHASES) * PHASES;
const CPU_PROF_DIR = opt('--cpu-prof-dir');
const TARGET_VS_BARE = 0.5;
const TARGET_VS_PGBOSS = 1.5;
const QUEUE = 'bench-noop';
const WHO: Who = { actor: 'bench' };
const ROOT = new URL('..', import.meta.url).pathname;
const WORKER_FIXTURE = join(ROOT, 'bench', 'fixtures', 'queue-worker.ts');
const TRAIN_FILE = join(ROOT, 'bench', 'fixtures', 'bench-train.yaml');
const TRAIN_YAML = readFileSync(TRAIN_FILE, 'utf8');

const log = (msg: string) => process.stderr.write(`${msg}\n`);
/** Every process this benchmark started, ended on exit if still running (by its own handle only). */
const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
function invalid(msg: string): never {
  throw new Error(`benchmark invalid: ${msg}`);
}

type Kind = 'vt' | 'pgboss' | 'bare' | 'floor';
const KINDS: Kind[] = ['vt', 'pgboss', 'bare', 'floor'];
const LABEL: Record<Kind, string> = {
  vt: 'vt',
  pgboss: 'pg-boss',
  bare: 'bare SKIP LOCKED',
  floor: 'floor (rows only)',
};

interface TurnResult {
  done: number;
  ms: number;
  cpuMs: number;
  /** Statements sent (pg.Client#query calls), including polls of an empty queue. */
  statements: number;
}

/** One worker process (bench/fixtures/queue-worker.ts), driven line by line over its stdin/stdout. */
class Worker {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  #waiting: ((line: string) => void) | null = null;
  #stderr = '';
  #exited: Promise<number | null>;

  constructor(kind: Kind, url: string, name: string) {
    const flags = CPU_PROF_DIR && kind === 'vt' ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : [];
    this.child = spawn(process.execPath, [...flags, WORKER_FIXTURE, kind, url, name], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    started.add(this.child);
    this.child.stderr!.on('data', (d) => {
      this.#stderr = (this.#stderr + d).slice(-4000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (this.#waiting) {
        const w = this.#waiting;
        this.#waiting = null;
        w(line);
      } else this.#lines.push(line);
    });
    this.#exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** The next line it prints; fails if it exits first. */
  next(): Promise<string> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return Promise.race([
      new Promise<string>((r) => {
        this.#waiting = r;
      }),
      this.#exited.then((code) => invalid(`a worker exited (${code}): ${this.#stderr.trim()}`)),
    ]);
  }

  async ready(): Promise<void> {
    const line = await this.next();
    if (line !== 'ready') invalid(`a worker said "${line}" instead of ready: ${this.#stderr.trim()}`);
  }

  async go(): Promise<TurnResult> {
    this.child.stdin!.write('go\n');
    return JSON.parse(await this.next()) as TurnResult;
  }

  /** Ask it to exit; after 30 s (a worker stuck in a failed run) it is killed. Returns its exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.stdin!.write('exit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }

  get stderr(): string {
    return this.#stderr.trim();
  }
}

/** CPU seconds the server's backends used, read from /proc (null when the server is elsewhere). */
class ServerCpu {
  readonly #admin: pg.Client;
  constructor(admin: pg.Client) {
    this.#admin = admin;
  }
  async snapshot(): Promise<Map<number, number> | null> {
    const r = await this.#admin.query<{ pid: number }>('select pid from pg_stat_activity');
    const out = new Map<number, number>();
    const tick = 100; // USER_HZ on Linux
    for (const { pid } of r.rows) {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
        out.set(pid, (Number(rest[11]) + Number(rest[12])) / tick);
      } catch {
        return null;
      }
    }
    return out;
  }
  /** CPU seconds between two snapshots (backends that started in between count whole). */
  static diff(a: Map<number, number> | null, b: Map<number, number> | null): number | null {
    if (!a || !b) return null;
    let s = 0;
    for (const [pid, t] of b) s += t - (a.get(pid) ?? 0);
    return s;
  }
}

const WAIT_KINDS = ['cpu', 'lock', 'lwlock', 'io', 'clientInTransaction', 'other'] as const;
type WaitKind = (typeof WAIT_KINDS)[number];

/**
 * While a turn runs, what the server's backends for one database are doing, sampled from
 * pg_stat_activity: running (cpu), waiting on a row or advisory lock (lock), on an internal lock
 * (lwlock), on I/O, or idle inside a transaction, waiting for the client's next statement while it
 * holds its locks (clientInTransaction). Backends idle between transactions are not counted, so the
 * bench's own idle connections to the database do not show.
 */
class WaitSampler {
  readonly #admin: pg.Client;
  constructor(admin: pg.Client) {
    this.#admin = admin;
  }
  start(database: string): () => Promise<{ samples: number; sums: Record<WaitKind, number> }> {
    const sums = Object.fromEntries(WAIT_KINDS.map((k) => [k, 0])) as Record<WaitKind, number>;
    let samples = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const r = await this.#admin.query<{ state: string | null; t: string | null; e: string | null }>(
          `select state, wait_event_type as t, wait_event as e from pg_stat_activity
            where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid()`,
          [database],
        );
        samples++;
        for (const { state, t } of r.rows) {
          if (state === 'idle in transaction') sums.clientInTransaction++;
          else if (state !== 'active') continue;
          else if (t === null) sums.cpu++;
          else if (t === 'Lock') sums.lock++;
          else if (t === 'LWLock') sums.lwlock++;
          else if (t === 'IO') sums.io++;
          else if (t === 'Client') sums.clientInTransaction++;
          else sums.other++;
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    return async () => {
      stop = true;
      await loop;
      return { samples, sums };
    };
  }
}

interface Tally {
  /** Summed over samples: backends in each state (divided by samples: the average number). */
  waits: Record<WaitKind, number>;
  waitSamples: number;
  jobs: number;
  seconds: number;
  clientCpuSeconds: number;
  serverCpuSeconds: number | null;
  statements: number;
}

/** One variant at one worker count: its database, its N processes, how to fill and check its queue. */
interface Subject {
  kind: Kind;
  /** Its database's name on the server. */
  database: string;
  workers: Worker[];
  fill(turn: string): Promise<void>;
  check(turn: string, reported: number): Promise<void>;
  close(): Promise<void>;
  tally: Tally;
}

async function vtSubject(vt: Vt, url: string, n: number): Promise<Subject> {
  const train = parseTrain(TRAIN_YAML, TRAIN_FILE);
  const tickets = new Tickets(vt.engine);
  const projects = JOBS / PHASES;
  const db = vt.store.db;
  const workspace = mkdtempSync(join(tmpdir(), 'vt-bench-queue-'));
  const count = async (q: Promise<{ c: number | string | bigint } | undefined>) => Number((await q)?.c ?? 0);
  return {
    kind: 'vt',
    database: new URL(url).pathname.slice(1),
    workers: await startWorkers('vt', url, n),
    async fill(turn) {
      const ids = Array.from({ length: projects }, (_, i) => `q${turn}-${i}`);
      await pool(ids, 4, async (id) => {
        await vt.engine.createProject({ id, name: id, workspace, train }, WHO);
        await vt.engine.setMetric(id, 'score', 0.9, WHO);
        await tickets.addIssue(id, { title: 'walk the train' }, WHO);
      });
    },
    async check(turn, reported) {
      const like = `q${turn}-%`;
      const c = (t: 'projects' | 'tickets') =>
        db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('c'));
      const completed = await count(
        c('projects').where('id', 'like', like).where('status', '=', 'completed').executeTakeFirst(),
      );
      const all = await count(c('tickets').where('project_id', 'like', like).executeTakeFirst());
      const done = await count(
        c('tickets').where('project_id', 'like', like).where('status', '=', 'done').executeTakeFirst(),
      );
      const claims = await count(
        db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll<number>().as('c'))
          .where('project_id', 'like', like)
          .where('type', '=', 'ticket.claimed')
          .executeTakeFirst(),
      );
      if (reported !== JOBS || completed !== projects || all !== JOBS || done !== JOBS || claims !== JOBS)
        invalid(
          `vt turn ${turn}: workers finished ${reported}; ${completed}/${projects} projects completed, ` +
            `${done}/${all} tickets done, ${claims} claims (want ${JOBS} each)`,
        );
    },
    async close() {
      rmSync(workspace, { recursive: true, force: true });
    },
    tally: emptyTally(),
  };
}

async function pgbossSubject(url: string, n: number): Promise<Subject> {
  // The producer: inserts the jobs. Its own maintenance is off so it adds nothing the workers'
  // instances (all defaults) do not already do.
  const producer = new PgBoss({ connectionString: url, supervise: false, schedule: false });
  producer.on('error', (err) => log(`pg-boss producer: ${err.message}`));
  await producer.start();
  if (!(await producer.getQueue(QUEUE))) await producer.createQueue(QUEUE);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return {
    kind: 'pgboss',
    database: new URL(url).pathname.slice(1),
    workers: await startWorkers('pgboss', url, n),
    async fill(turn) {
      for (let i = 0; i < JOBS; i += 1000)
        await producer.insert(
          QUEUE,
          Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ data: { turn, i: i + k } })),
        );
    },
    async check(turn, reported) {
      const r = await c.query<{ ok: number; total: number }>(
        `select count(*) filter (where state = 'completed' and retry_count = 0)::int as ok, count(*)::int as total
           from pgboss.job where name = $1 and data->>'turn' = $2`,
        [QUEUE, turn],
      );
      const { ok, total } = r.rows[0]!;
      if (reported !== JOBS || ok !== JOBS || total !== JOBS)
        invalid(
          `pg-boss turn ${turn}: workers completed ${reported}; ${ok} of ${total} jobs completed once (want ${JOBS})`,
        );
    },
    async close() {
      await c.end();
      await producer.stop({ graceful: false });
    },
    tally: emptyTally(),
  };
}

async function bareSubject(url: string, n: number): Promise<Subject> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`create table if not exists bare_jobs (
    id bigserial primary key,
    turn text not null,
    state text not null default 'queued',
    payload jsonb not null default '{}',
    done_count int not null default 0,
    done_by text,
    done_at timestamptz)`);
  await c.query(`create index if not exists bare_jobs_queued on bare_jobs (id) where state = 'queued'`);
  return {
    kind: 'bare',
    database: new URL(url).pathname.slice(1),
    workers: await startWorkers('bare', url, n),
    async fill(turn) {
      await c.query(
        `insert into bare_jobs (turn, payload) select $1, jsonb_build_object('i', g) from generate_series(1, $2) g`,
        [turn, JOBS],
      );
      await c.query('analyze bare_jobs');
    },
    async check(turn, reported) {
      const r = await c.query<{ ok: number; total: number }>(
        `select count(*) filter (where state = 'done' and done_count = 1)::int as ok, count(*)::int as total
           from bare_jobs where turn = $1`,
        [turn],
      );
      const { ok, total } = r.rows[0]!;
      if (reported !== JOBS || ok !== JOBS || total !== JOBS)
        invalid(
          `bare turn ${turn}: workers did ${reported}; ${ok} of ${total} rows done once (want ${JOBS})`,
        );
    },
    close: () => c.end(),
    tally: emptyTally(),
  };
}

/**
 * The floor: the tables a transition writes, cut to the columns that carry the record (see
 * FLOOR_CLAIM and FLOOR_FINISH in bench/fixtures/queue-worker.ts). Filled like vt's: one queued
 * ticket per project at its first phase, the next queued by each finish, 18 per project.
 */
async function floorSubject(url: string, n: number): Promise<Subject> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`
    create table if not exists floor_projects (id text primary key, phase int not null default 1,
      head_seq int not null default 0, head_hash bytea not null default '\\x00', transitions int not null default 0,
      updated_at timestamptz);
    create table if not exists floor_tickets (id bigserial primary key, project text not null, phase int not null,
      state text not null default 'queued', lease_gen int not null default 0, worker text, updated_at timestamptz);
    create index if not exists floor_tickets_queued on floor_tickets (id) where state = 'queued';
    create index if not exists floor_tickets_project on floor_tickets (project, phase);
    create table if not exists floor_leases (ticket bigint primary key, project text not null, worker text,
      gen int not null, expires_at timestamptz not null);
    create sequence if not exists floor_gseq;
    create table if not exists floor_events (project text not null, seq int not null, gseq bigint not null,
      ts timestamptz not null, type text not null, body text not null, prev_hash bytea not null,
      hash bytea not null, primary key (project, seq));
    create unique index if not exists floor_events_gseq on floor_events (gseq);
    create table if not exists floor_merkle (pos bigserial primary key, level int not null, hash bytea not null);
    create table if not exists floor_transitions (project text not null, n int not null, from_phase int,
      to_phase int, ts timestamptz, primary key (project, n))`);
  const projects = JOBS / PHASES;
  return {
    kind: 'floor',
    database: new URL(url).pathname.slice(1),
    workers: await startWorkers('floor', url, n),
    async fill(turn) {
      await c.query(
        `with p as (insert into floor_projects (id) select $1 || '-' || g from generate_series(1, $2) g returning id)
         insert into floor_tickets (project, phase) select id, 1 from p order by id`,
        [`q${turn}`, projects],
      );
      await c.query('analyze');
    },
    async check(turn, reported) {
      const like = `q${turn}-%`;
      const r = await c.query<Record<string, number>>(
        `select
           (select count(*) from floor_projects where id like $1 and phase = $2 + 1 and transitions = $2
              and head_seq = 4 * $2)::int as completed,
           (select count(*) from floor_tickets where project like $1 and state = 'done')::int as done,
           (select count(*) from floor_tickets where project like $1)::int as tickets,
           (select count(*) from floor_events where project like $1 and type = 'ticket.claimed')::int as claims,
           (select count(*) from floor_events where project like $1)::int as events,
           (select count(*) from floor_leases where project like $1)::int as leases`,
        [like, PHASES],
      );
      const x = r.rows[0]!;
      if (
        reported !== JOBS ||
        x.completed !== projects ||
        x.done !== JOBS ||
        x.tickets !== JOBS ||
        x.claims !== JOBS ||
        x.events !== 4 * JOBS ||
        x.leases !== 0
      )
        invalid(
          `floor turn ${turn}: workers finished ${reported}; ${x.completed}/${projects} projects completed, ` +
            `${x.done}/${x.tickets} tickets done, ${x.claims} claims, ${x.events} events, ${x.leases} leases left`,
        );
    },
    close: () => c.end(),
    tally: emptyTally(),
  };
}

const emptyTally = (): Tally => ({
  waits: Object.fromEntries(WAIT_KINDS.map((k) => [k, 0])) as Record<WaitKind, number>,
  waitSamples: 0,
  jobs: 0,
  seconds: 0,
  clientCpuSeconds: 0,
  serverCpuSeconds: 0,
  statements: 0,
});

async function startWorkers(kind: Kind, url: string, n: number): Promise<Worker[]> {
  const ws = Array.from({ length: n }, (_, i) => new Worker(kind, url, `${kind}-${n}-${i}`));
  await Promise.all(ws.map((w) => w.ready()));
  return ws;
}

/** Run `fn` over items with `width` in flight. */
async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** One turn of one variant: fill its queue (untimed), then all its workers at once until it is empty. */
async function turn(
  s: Subject,
  key: string,
  counted: boolean,
  serverCpu: ServerCpu,
  sampler: WaitSampler | null,
): Promise<void> {
  await s.fill(key);
  const cpu0 = await serverCpu.snapshot();
  const stopSampling = sampler?.start(s.database);
  const t0 = performance.now();
  const results = await Promise.all(s.workers.map((w) => w.go()));
  const seconds = (performance.now() - t0) / 1000;
  const waits = await stopSampling?.();
  const cpu1 = await serverCpu.snapshot();
  const reported = results.reduce((a, r) => a + r.done, 0);
  await s.check(key, reported);
  if (!counted) return;
  s.tally.jobs += reported;
  s.tally.seconds += seconds;
  s.tally.clientCpuSeconds += results.reduce((a, r) => a + r.cpuMs, 0) / 1000;
  s.tally.statements += results.reduce((a, r) => a + r.statements, 0);
  if (waits) {
    s.tally.waitSamples += waits.samples;
    for (const k of WAIT_KINDS) s.tally.waits[k] += waits.sums[k];
  }
  const server = ServerCpu.diff(cpu0, cpu1);
  s.tally.serverCpuSeconds =
    server === null || s.tally.serverCpuSeconds === null ? null : s.tally.serverCpuSeconds + server;
}

interface Row {
  workers: number;
  figures: Record<
    Kind,
    {
      perSecond: number;
      perSecondPerWorker: number;
      jobs: number;
      seconds: number;
      clientCpuMsPerJob: number;
      serverCpuMsPerJob: number | null;
      statementsPerJob: number;
      /** With --waits: the average number of the workers' backends in each state during its turns. */
      serverBackends: Record<WaitKind, number> | null;
    }
  >;
  vtVsBare: number;
  vtVsPgBoss: number;
  passBare: boolean;
  passPgBoss: boolean;
  /** The floor against the same two: what any implementation keeping vt's record could reach at best. */
  floorVsBare: number;
  floorVsPgBoss: number;
}

async function measure(
  n: number,
  urls: Record<Kind, string>,
  vt: Vt,
  serverCpu: ServerCpu,
  sampler: WaitSampler | null,
): Promise<Row> {
  log(`== ${n} worker(s): starting ${KINDS.length * n} processes`);
  const subjects = [
    await vtSubject(vt, urls.vt, n),
    await pgbossSubject(urls.pgboss, n),
    await bareSubject(urls.bare, n),
    await floorSubject(urls.floor, n),
  ];
  let ok = false;
  try {
    for (let t = 0; t < TURNS; t++) {
      for (let k = 0; k < subjects.length; k++) {
        const s = subjects[(t + k) % subjects.length]!;
        await turn(s, `${n}w${t}`, t > 0, serverCpu, sampler);
      }
      if (t > 0)
        log(
          `  after turn ${t}/${TURNS - 1}: ${subjects.map((s) => `${LABEL[s.kind]} ${fmt(s.tally.jobs / s.tally.seconds)}/s`).join(', ')}`,
        );
      else log('  warm-up turn done');
    }
    ok = true;
  } finally {
    for (const s of subjects)
      for (const w of s.workers) {
        const code = await w.stop();
        if (ok && code !== 0) invalid(`a ${s.kind} worker exited with ${code}: ${w.stderr}`);
      }
    for (const s of subjects) await s.close();
  }
  const figures = Object.fromEntries(
    subjects.map((s) => {
      const perSecond = s.tally.jobs / s.tally.seconds;
      return [
        s.kind,
        {
          perSecond,
          perSecondPerWorker: perSecond / n,
          jobs: s.tally.jobs,
          seconds: s.tally.seconds,
          clientCpuMsPerJob: (1000 * s.tally.clientCpuSeconds) / s.tally.jobs,
          serverCpuMsPerJob:
            s.tally.serverCpuSeconds === null ? null : (1000 * s.tally.serverCpuSeconds) / s.tally.jobs,
          statementsPerJob: s.tally.statements / s.tally.jobs,
          serverBackends: s.tally.waitSamples
            ? (Object.fromEntries(
                WAIT_KINDS.map((k) => [k, s.tally.waits[k] / s.tally.waitSamples]),
              ) as Record<WaitKind, number>)
            : null,
        },
      ];
    }),
  ) as Row['figures'];
  const vtVsBare = figures.vt.perSecond / figures.bare.perSecond;
  const vtVsPgBoss = figures.vt.perSecond / figures.pgboss.perSecond;
  return {
    workers: n,
    figures,
    vtVsBare,
    vtVsPgBoss,
    passBare: vtVsBare >= TARGET_VS_BARE,
    passPgBoss: vtVsPgBoss >= TARGET_VS_PGBOSS,
    floorVsBare: figures.floor.perSecond / figures.bare.perSecond,
    floorVsPgBoss: figures.floor.perSecond / figures.pgboss.perSecond,
  };
}

/**
 * The real `vt worker`: N CLI processes with a no-op command executor, folder workspaces and the
 * default sandbox. Projects are created first and the workers started and idle; then one issue per
 * project queues the work (the workers are woken by the store's notifications) and the clock runs
 * until every project completed the train. Then SIGTERM, and every ticket is checked done once.
 */
async function realWorker(
  n: number,
  url: string,
): Promise<{ workers: number; tickets: number; seconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-queue-real-'));
  const yaml = TRAIN_YAML.replace(
    '  - { id: lead, name: Lead }',
    '  - { id: lead, name: Lead, executor: { kind: command, run: ["true"] } }',
  );
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  mkdirSync(join(dir, '.vt'), { recursive: true });
  const vt = await openVt(url);
  const children: { child: ChildProcess; err: string; exited: Promise<number | null> }[] = [];
  try {
    const train = parseTrain(yaml, join(dir, 'vt.yaml'));
    const tickets = new Tickets(vt.engine);
    const ids = Array.from({ length: REAL_JOBS / PHASES }, (_, i) => `real${n}-${i}`);
    for (const id of ids) {
      await vt.engine.createProject({ id, name: id, workspace: dir, train }, WHO);
      await vt.engine.setMetric(id, 'score', 0.9, WHO);
    }
    for (let i = 0; i < n; i++) {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'bin', 'vt.js'), 'worker', '--workspaces', 'folder', '--name', `real-${n}-${i}`],
        {
          cwd: dir,
          env: { ...process.env, VT_DATABASE_URL: url, NO_COLOR: '1' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      started.add(child);
      const c = {
        child,
        err: '',
        exited: new Promise<number | null>((r) => child.on('exit', (code) => r(code))),
      };
      child.stderr!.on('data', (d) => {
        c.err = (c.err + d).slice(-20000);
      });
      children.push(c);
    }
    // Every worker started and waiting for work (listening for notifications).
    const deadline = Date.now() + 120_000;
    while (!children.every((c) => /: idle \(/.test(c.err))) {
      if (Date.now() > deadline)
        invalid(`vt worker did not become idle: ${children.map((c) => c.err).join('\n')}`);
      for (const c of children) if (c.child.exitCode !== null) invalid(`vt worker exited: ${c.err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const t0 = performance.now();
    for (const id of ids) await tickets.addIssue(id, { title: 'walk the train' }, WHO);
    const db = vt.store.db;
    for (;;) {
      const r = await db
        .selectFrom('projects')
        .select((eb) => eb.fn.countAll<number>().as('c'))
        .where('id', 'like', `real${n}-%`)
        .where('status', '=', 'completed')
        .executeTakeFirst();
      if (Number(r?.c) === ids.length) break;
      for (const c of children) if (c.child.exitCode !== null) invalid(`vt worker exited: ${c.err}`);
      if (performance.now() - t0 > 30 * 60_000) invalid('vt worker: not done after 30 minutes');
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const c of children) c.child.kill('SIGTERM');
    for (const c of children)
      if ((await c.exited) !== 0) invalid(`vt worker exited with ${c.child.exitCode}: ${c.err}`);
    const done = await db
      .selectFrom('tickets')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .where('project_id', 'like', `real${n}-%`)
      .where('status', '=', 'done')
      .executeTakeFirst();
    const claims = await db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('c'))
      .where('project_id', 'like', `real${n}-%`)
      .where('type', '=', 'ticket.claimed')
      .executeTakeFirst();
    if (Number(done?.c) !== REAL_JOBS || Number(claims?.c) !== REAL_JOBS)
      invalid(`vt worker: ${done?.c} tickets done, ${claims?.c} claims (want ${REAL_JOBS} each)`);
    return { workers: n, tickets: REAL_JOBS, seconds };
  } finally {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await vt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number, d = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

async function main(): Promise<void> {
  const given = opt('--pg-url') ?? process.env.VT_BENCH_PG_URL ?? process.env.VT_TEST_PG_URL;
  if (given) process.env.VT_TEST_PG_URL = given;
  else if (DURABLE) process.env.VT_PG_DURABLE = '1';
  if (given && DURABLE) log('--durable: the server named keeps its own settings (read back below)');
  const pgt = await import('../test/pg.ts');
  log(
    given
      ? 'PostgreSQL: the server named'
      : `PostgreSQL: starting a throwaway server (scripts/pg-throwaway.sh${DURABLE ? ', durable' : ''})`,
  );
  const adminUrl = await pgt.pgServer();
  const urls: Record<Kind, string> = {
    vt: await pgt.freshPgUrl(),
    pgboss: await pgt.freshPgUrl(),
    bare: await pgt.freshPgUrl(),
    floor: await pgt.freshPgUrl(),
  };
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const settings = Object.fromEntries(
    (
      await admin.query<{ name: string; setting: string }>(
        `select name, setting from pg_settings where name in ('server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_connections')`,
      )
    ).rows.map((r) => [r.name, r.setting]),
  );
  const serverCpu = new ServerCpu(admin);
  // The vt store is migrated once, here; the bench's own handle fills the queues and checks them.
  const vt = await openVt(urls.vt);
  // pg-boss's schema is installed once, by the producer (migrate on), before any worker starts.
  const load0 = loadavg();
  const rows: Row[] = [];
  const real: Awaited<ReturnType<typeof realWorker>>[] = [];
  try {
    const sampler = WAITS ? new WaitSampler(admin) : null;
    for (const n of WORKERS) rows.push(await measure(n, urls, vt, serverCpu, sampler));
    if (REAL) {
      const realUrl = await pgt.freshPgUrl();
      for (const n of WORKERS) {
        log(`== real vt worker, ${n} process(es), ${REAL_JOBS} tickets`);
        real.push(await realWorker(n, realUrl));
        log(`  ${fmt(REAL_JOBS / real.at(-1)!.seconds, 1)} tickets/s`);
      }
    }
  } finally {
    await vt.close();
    await admin.end();
    await pgt.dropTestDatabases();
  }
  const load1 = loadavg();
  const pgbossVersion = JSON.parse(
    readFileSync(join(ROOT, 'node_modules', 'pg-boss', 'package.json'), 'utf8'),
  ).version as string;
  const setup = {
    node: process.versions.node,
    pgBoss: pgbossVersion,
    postgres: settings,
    cpus: cpus().length,
    loadAverage: { start: load0, end: load1 },
    jobsPerTurn: JOBS,
    turns: TURNS,
    countedTurns: TURNS - 1,
    quick: QUICK,
  };
  const realFigures = real.map((r) => {
    const row = rows.find((x) => x.workers === r.workers);
    const perSecond = r.tickets / r.seconds;
    return {
      ...r,
      perSecond,
      perSecondPerWorker: perSecond / r.workers,
      vsVtPath: row ? perSecond / row.figures.vt.perSecond : null,
      vsPgBoss: row ? perSecond / row.figures.pgboss.perSecond : null,
    };
  });
  const targets = rows.flatMap((r) => [
    {
      name: `${r.workers} worker(s): vt >= ${TARGET_VS_BARE} x bare`,
      ratio: r.vtVsBare,
      pass: r.passBare,
    },
    {
      name: `${r.workers} worker(s): vt >= ${TARGET_VS_PGBOSS} x pg-boss`,
      ratio: r.vtVsPgBoss,
      pass: r.passPgBoss,
    },
  ]);
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ setup, rows, realWorker: realFigures, targets }, null, 2)}\n`);
    return;
  }
  const cpuCell = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));
  const lines = [
    `vt queue benchmark: PostgreSQL ${settings.server_version} (fsync=${settings.fsync}, synchronous_commit=${settings.synchronous_commit}, full_page_writes=${settings.full_page_writes}), ` +
      `pg-boss ${pgbossVersion}, ${JOBS} jobs per variant and turn, ${TURNS - 1} counted turns, ` +
      `load average ${load0[0]!.toFixed(1)} → ${load1[0]!.toFixed(1)} on ${cpus().length} cores`,
    '',
    'workers  variant            jobs/s   per worker   statements/job   client CPU ms/job   server CPU ms/job',
    ...rows.flatMap((r) =>
      KINDS.map((k) => {
        const f = r.figures[k];
        return `${String(r.workers).padStart(7)}  ${LABEL[k].padEnd(16)} ${fmt(f.perSecond).padStart(8)}   ${fmt(f.perSecondPerWorker).padStart(10)}   ${f.statementsPerJob.toFixed(1).padStart(14)}   ${f.clientCpuMsPerJob.toFixed(2).padStart(17)}   ${cpuCell(f.serverCpuMsPerJob).padStart(17)}`;
      }),
    ),
    '',
    'workers   vt ÷ bare (target ≥ 0.5)   vt ÷ pg-boss (target ≥ 1.5)   floor ÷ bare   floor ÷ pg-boss',
    ...rows.map(
      (r) =>
        `${String(r.workers).padStart(7)}   ${r.vtVsBare.toFixed(2).padStart(9)} ${r.passBare ? 'PASS' : 'FAIL'}             ${r.vtVsPgBoss.toFixed(2).padStart(9)} ${r.passPgBoss ? 'PASS' : 'FAIL'}              ${r.floorVsBare.toFixed(2).padStart(12)}   ${r.floorVsPgBoss.toFixed(2).padStart(15)}`,
    ),
    ...(WAITS
      ? [
          '',
          "the workers' server backends, on average during the turns (pg_stat_activity every 10 ms):",
          'workers  variant            on CPU   lock wait   lwlock   I/O   in a transaction, waiting for the client',
          ...rows.flatMap((r) =>
            KINDS.map((k) => {
              const b = r.figures[k].serverBackends;
              const c = (x: number | undefined) => (x ?? 0).toFixed(2);
              return `${String(r.workers).padStart(7)}  ${LABEL[k].padEnd(16)} ${c(b?.cpu).padStart(7)}   ${c(b?.lock).padStart(9)}   ${c(b?.lwlock).padStart(6)}   ${c(b?.io).padStart(3)}   ${c(b?.clientInTransaction).padStart(6)}`;
            }),
          ),
        ]
      : []),
    ...(realFigures.length
      ? [
          '',
          `real \`vt worker\` (no-op command executor, folder workspaces, default sandbox; ${REAL_JOBS} tickets, one run):`,
          'workers  tickets/s   per worker   ms/ticket per worker   × vt path   × pg-boss',
          ...realFigures.map(
            (r) =>
              `${String(r.workers).padStart(7)}  ${fmt(r.perSecond, 1).padStart(9)}   ${fmt(r.perSecondPerWorker, 1).padStart(10)}   ${fmt((1000 * r.workers) / r.perSecond).padStart(20)}   ${r.vsVtPath === null ? 'n/a' : r.vsVtPath.toFixed(3).padStart(9)}   ${r.vsPgBoss === null ? 'n/a' : r.vsPgBoss.toFixed(3).padStart(8)}`,
          ),
        ]
      : []),
    '',
    ...targets.map((t) => `${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ratio ${t.ratio.toFixed(2)}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
process.exit(0);
