/**
 * API latency benchmark: `node bench/api.bench.ts [--json] [--quick]`.
 *
 * Seeds a store through the engine with 10,000 projects on an 18-phase train (each advanced a
 * random number of phases; 1,000 with tickets, of which some wait for a person or are blocked),
 * starts `vt serve`'s server in this process and measures, request by request, the latency of the
 * portfolio (flow strip, a matrix page), attention and project endpoints over HTTP, each against a
 * bare indexed better-sqlite3 query of the same rows in the same run. Reports p50 and p95 and the
 * ratio of p50s; the target is p95 under 50 ms. Progress on stderr, the table (or JSON) on stdout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startServer } from '../src/api/server.ts';
import { createToken } from '../src/api/tokens.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { parseTrain } from '../src/train/loader.ts';
import { openVt } from '../src/wiring.ts';

const args = new Set(process.argv.slice(2));
const JSON_OUT = args.has('--json');
const QUICK = args.has('--quick');
const PROJECTS = QUICK ? 1000 : 10_000;
const WITH_TICKETS = PROJECTS / 10;
const REQUESTS = QUICK ? 50 : 300;
const TARGET_P95_MS = 50;
const log = (m: string) => process.stderr.write(`${m}\n`);

const PHASES = Array.from({ length: 18 }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);
const TRAIN = `version: 1
name: bench-api
roles:
  - { id: worker, name: Worker }
  - { id: lead, name: Lead }
people:
  lead-1: [lead]
phases:
${PHASES.map((id, i) => `  - { id: ${id}, name: Phase ${i + 1}, stage: delivery, owner: worker, next: ${PHASES[i + 1] ?? 'null'} }`).join('\n')}
`;

async function pool(n: number, width: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** A small deterministic generator, so every run seeds the same portfolio. */
function rng(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'vt-bench-api-'));
  try {
    writeFileSync(join(dir, 'vt.yaml'), TRAIN);
    const db = join(dir, '.vt', 'vt.db');
    const vt = await openVt(db, { synchronous: 'NORMAL' });
    const train = parseTrain(TRAIN, join(dir, 'vt.yaml'));
    const random = rng(42);
    const who = { actor: 'lead-1' };
    const teams = ['growth', 'risk', 'ops', 'pricing', 'platform', 'care', 'search', 'ads'];
    const t0 = performance.now();
    log(`seeding ${PROJECTS} projects through the engine…`);
    const plan = Array.from({ length: PROJECTS }, () => ({
      team: teams[Math.floor(random() * teams.length)]!,
      moves: Math.floor(random() * 17),
    }));
    await pool(PROJECTS, 16, async (i) => {
      const id = `proj-${String(i).padStart(5, '0')}`;
      await vt.engine.createProject(
        {
          id,
          name: `Project ${i}`,
          team: plan[i]!.team,
          priority: (['now', 'next', 'future'] as const)[i % 3],
          workspace: dir,
          train,
        },
        who,
      );
      for (let m = 0; m < plan[i]!.moves; m++) await vt.engine.advance(id, who);
    });
    log(`projects seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s; tickets…`);
    const tickets = new Tickets(vt.engine);
    await pool(WITH_TICKETS, 8, async (k) => {
      const id = `proj-${String(k * 10).padStart(5, '0')}`;
      await tickets.addIssue(id, { title: `Work on ${id}` }, who);
      if (k % 3 === 2) return;
      const claim = await tickets.claimNext(`w-${k % 8}`, { project: id, leaseMs: 60_000 });
      if (!claim) throw new Error(`no ticket to claim in ${id}`);
      if (k % 3 === 0) await tickets.awaitHuman(claim, 'needs a person', who);
      else
        await tickets.failAttempt({ ...claim }, 'step failed', who, 0).then(async () => {
          for (let a = 0; a < 2; a++) {
            const again = await tickets.claimNext(`w-${k % 8}`, { project: id, leaseMs: 60_000 });
            if (again) await tickets.failAttempt(again, 'step failed again', who, 0);
          }
        });
    });
    const seeded = (performance.now() - t0) / 1000;
    const counts = await vt.store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    log(`seeded in ${seeded.toFixed(1)} s: ${counts?.n} events`);
    const { token } = await createToken(
      vt.store,
      { person: 'bench', grants: [{ role: 'viewer', project: '*' }], by: 'bench' },
      new Date(),
    );
    await vt.close();

    const server = await startServer({ db, host: '127.0.0.1', port: 0, assetsDir: null, version: 'bench' });
    const base = `http://127.0.0.1:${server.port}`;
    const raw = new Database(db, { readonly: true });
    const headers = { authorization: `Bearer ${token}` };
    const get = async (path: string) => {
      const res = await fetch(base + path, { headers });
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<Record<string, unknown>>;
    };
    // Sanity: the endpoints return what was seeded.
    const flow = await get('/api/portfolio/flow');
    if (flow.total !== PROJECTS) throw new Error(`flow counts ${flow.total} projects`);
    const att = (await get('/api/attention?limit=100')) as { items: unknown[] };
    if (att.items.length !== Math.min(100, Math.ceil((WITH_TICKETS * 2) / 3)))
      throw new Error(`attention returned ${att.items.length} items`);

    const bare = {
      flow: raw.prepare('select phase, status, count(*) n from projects group by phase, status'),
      matrix: raw.prepare('select * from projects where id > ? order by id limit 100'),
      attention: raw.prepare(
        "select * from tickets where status in ('blocked','awaiting-approval','awaiting-human') order by updated_at, id limit 100",
      ),
      project: raw.prepare('select * from events where project_id = ? order by seq'),
    };
    const cases: { name: string; api: (i: number) => Promise<unknown>; bare: (i: number) => unknown }[] = [
      { name: 'portfolio flow strip', api: () => get('/api/portfolio/flow'), bare: () => bare.flow.all() },
      {
        name: 'portfolio matrix page (100)',
        api: (i) =>
          get(`/api/portfolio/projects?limit=100&after=proj-${String((i * 97) % PROJECTS).padStart(5, '0')}`),
        bare: (i) => bare.matrix.all(`proj-${String((i * 97) % PROJECTS).padStart(5, '0')}`),
      },
      {
        name: 'attention page (100)',
        api: () => get('/api/attention?limit=100'),
        bare: () => bare.attention.all(),
      },
      {
        name: 'project detail',
        api: (i) => get(`/api/projects/proj-${String((i * 31) % PROJECTS).padStart(5, '0')}`),
        bare: (i) => bare.project.all(`proj-${String((i * 31) % PROJECTS).padStart(5, '0')}`),
      },
    ];
    const results = [];
    for (const c of cases) {
      for (let i = 0; i < 10; i++) {
        await c.api(i);
        c.bare(i);
      }
      const api: number[] = [];
      const ref: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        let t = performance.now();
        await c.api(i);
        api.push(performance.now() - t);
        t = performance.now();
        c.bare(i);
        ref.push(performance.now() - t);
      }
      const r = {
        endpoint: c.name,
        api_p50_ms: pct(api, 50),
        api_p95_ms: pct(api, 95),
        bare_p50_ms: pct(ref, 50),
        bare_p95_ms: pct(ref, 95),
        ratio_p50: pct(api, 50) / pct(ref, 50),
        pass: pct(api, 95) < TARGET_P95_MS,
      };
      results.push(r);
      log(
        `${c.name}: api p50 ${r.api_p50_ms.toFixed(2)} ms p95 ${r.api_p95_ms.toFixed(2)} ms; bare p50 ${r.bare_p50_ms.toFixed(3)} ms`,
      );
    }
    raw.close();
    await server.close();
    const out = {
      projects: PROJECTS,
      events: Number(counts?.n),
      requests: REQUESTS,
      seed_seconds: seeded,
      target_p95_ms: TARGET_P95_MS,
      node: process.version,
      results,
    };
    if (JSON_OUT) process.stdout.write(`${JSON.stringify(out)}\n`);
    else {
      process.stdout.write(`${PROJECTS} projects, ${out.events} events, ${REQUESTS} requests per endpoint\n`);
      process.stdout.write(
        'endpoint                        api p50   api p95   bare p50  bare p95  p50 ratio  p95 < 50 ms\n',
      );
      for (const r of results)
        process.stdout.write(
          `${r.endpoint.padEnd(30)} ${r.api_p50_ms.toFixed(2).padStart(7)}  ${r.api_p95_ms.toFixed(2).padStart(8)}  ${r.bare_p50_ms.toFixed(3).padStart(8)}  ${r.bare_p95_ms.toFixed(3).padStart(8)}  ${r.ratio_p50.toFixed(1).padStart(8)}  ${r.pass ? 'PASS' : 'FAIL'}\n`,
        );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
