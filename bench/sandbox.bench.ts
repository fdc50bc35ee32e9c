/**
 * What the sandbox costs: `node bench/sandbox.bench.ts [--json] [--quick]`.
 *
 * Two measurements, each run with and without bubblewrap in the same process, interleaved, best of
 * two rounds:
 * - per process: runProcess of `true` (spawn, wait, process group gone), bare and in the sandbox
 *   the executors get (the planning of its mounts included);
 * - per ticket: the autopilot on the 18-phase bench train with a no-op command executor (`true`),
 *   folder workspaces, one ticket at a time — `sandbox: none` against `sandbox: bwrap`.
 * The figure that matters is the difference per ticket, and its share of a ticket's time.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAutopilot } from '../src/autopilot/worker.ts';
import { openWorkspaces } from '../src/autopilot/workspace.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { childEnv, runProcess } from '../src/io/process.ts';
import { planSandbox, sandboxAvailable } from '../src/io/sandbox.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';

const args = new Set(process.argv.slice(2));
const PROJECTS = args.has('--quick') ? 1 : 4;
const SPAWNS = args.has('--quick') ? 10 : 40;
const PHASES = 18;
const WHO = { actor: 'bench' };

const status = sandboxAvailable();
if (!status.available) {
  process.stderr.write(`cannot measure the sandbox: ${status.reason}\n`);
  process.exit(0);
}

const base = readFileSync(new URL('./fixtures/bench-train.yaml', import.meta.url), 'utf8');
/** The bench train worked by a command that does nothing; the metric gates dropped, since it records none. */
const yamlFor = (sandbox: 'none' | 'bwrap') =>
  base
    .replace(
      '  - { id: lead, name: Lead }',
      `  - { id: lead, name: Lead, executor: { kind: command, run: ["true"], sandbox: ${sandbox} } }`,
    )
    .replace(/\n\s+- \{ id: quality, kind: metric, [^}]*\}/g, '');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** Median milliseconds of one `true`, bare and sandboxed, alternating. */
async function perProcess(): Promise<{ bare: number; sandboxed: number }> {
  const ws = mkdtempSync(join(tmpdir(), 'vt-bench-sbx-'));
  const bare: number[] = [];
  const boxed: number[] = [];
  try {
    for (let i = 0; i < SPAWNS; i++) {
      for (const sandboxed of [false, true]) {
        const t0 = performance.now();
        const plan = sandboxed
          ? planSandbox({
              mode: 'bwrap',
              what: 'bench',
              program: 'true',
              path: process.env.PATH ?? '',
              cwd: ws,
              writable: [ws],
            })
          : { wrap: null };
        if ('refused' in plan) throw new Error(plan.refused);
        const end = await runProcess({
          argv: ['true'],
          cwd: ws,
          env: childEnv({}),
          timeoutMs: 60_000,
          sandbox: plan.wrap,
        });
        if (end.exitCode !== 0)
          throw new Error(`benchmark invalid: true exited ${end.exitCode}: ${end.tail}`);
        (sandboxed ? boxed : bare).push(performance.now() - t0);
      }
    }
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
  return { bare: median(bare), sandboxed: median(boxed) };
}

/** Milliseconds per ticket through the autopilot (concurrency 1, so nothing overlaps). */
async function perTicket(sandbox: 'none' | 'bwrap'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), `vt-bench-sbx-${sandbox}-`));
  const yaml = yamlFor(sandbox);
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  const store = await openStore(join(dir, '.vt', 'vt.db'), { synchronous: 'FULL' });
  const engine = new Engine({ store, io: nodeIo });
  const train = parseTrain(yaml, join(dir, 'vt.yaml'));
  const tickets = new Tickets(engine);
  for (let i = 0; i < PROJECTS; i++) {
    const id = `p${i}`;
    await engine.createProject({ id, name: id, workspace: dir, train }, WHO);
    await tickets.addIssue(id, { title: 'walk' }, WHO);
  }
  const bin = join(dir, '.vt', 'bin');
  mkdirSync(bin, { recursive: true });
  const t0 = performance.now();
  const summary = await runAutopilot(
    {
      engine,
      tickets,
      workspaces: await openWorkspaces(dir, 'folder'),
      root: dir,
      dbTarget: join(dir, '.vt', 'vt.db'),
      binDir: bin,
    },
    {
      concurrency: 1,
      once: false,
      watch: false,
      leaseMs: 30_000,
      heartbeatMs: 10_000,
      backoffMs: 100,
      pollMs: 50,
      ...(process.env.BENCH_DEBUG
        ? { onProgress: (p) => process.stderr.write(`${JSON.stringify(p).slice(0, 300)}\n`) }
        : {}),
    },
  );
  const ms = (performance.now() - t0) / (PROJECTS * PHASES);
  if (summary.finished !== PROJECTS * PHASES)
    throw new Error(`benchmark invalid: ${summary.finished} tickets finished with sandbox: ${sandbox}`);
  const logs = await store.db.selectFrom('sessions').select('log').execute();
  const want = sandbox === 'bwrap' ? '[vt] in a sandbox (bubblewrap)' : '[vt] without a sandbox';
  if (!logs.every((l) => readFileSync(l.log, 'utf8').includes(want)))
    throw new Error(
      `benchmark invalid: not every session ran ${sandbox === 'bwrap' ? 'in' : 'without'} a sandbox`,
    );
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

const rounds: { spawnBare: number; spawnSandboxed: number; ticketNone: number; ticketBwrap: number }[] = [];
for (let r = 0; r < 2; r++) {
  const p = await perProcess();
  const round = {
    spawnBare: p.bare,
    spawnSandboxed: p.sandboxed,
    ticketNone: await perTicket('none'),
    ticketBwrap: await perTicket('bwrap'),
  };
  rounds.push(round);
  process.stderr.write(
    `round ${r + 1}: true ${round.spawnBare.toFixed(1)} ms bare, ${round.spawnSandboxed.toFixed(1)} ms sandboxed; ticket ${round.ticketNone.toFixed(1)} ms without, ${round.ticketBwrap.toFixed(1)} ms with the sandbox\n`,
  );
}
const best = (k: keyof (typeof rounds)[number]) => Math.min(...rounds.map((x) => x[k]));
const result = {
  bwrap: status.version,
  tickets: PROJECTS * PHASES,
  spawns: SPAWNS,
  msPerProcessBare: best('spawnBare'),
  msPerProcessSandboxed: best('spawnSandboxed'),
  msPerTicketNone: best('ticketNone'),
  msPerTicketBwrap: best('ticketBwrap'),
  msOverheadPerTicket: best('ticketBwrap') - best('ticketNone'),
  ratioPerTicket: best('ticketBwrap') / best('ticketNone'),
  rounds,
};
if (args.has('--json')) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else
  process.stdout.write(
    [
      `the sandbox's cost (bubblewrap ${result.bwrap}; no-op executor; best of 2 rounds)`,
      `one process (true), bare        ${result.msPerProcessBare.toFixed(1).padStart(8)} ms  (median of ${SPAWNS})`,
      `one process (true), sandboxed   ${result.msPerProcessSandboxed.toFixed(1).padStart(8)} ms`,
      `ticket, sandbox: none           ${result.msPerTicketNone.toFixed(1).padStart(8)} ms  (${result.tickets} tickets)`,
      `ticket, sandbox: bwrap          ${result.msPerTicketBwrap.toFixed(1).padStart(8)} ms`,
      `overhead per ticket             ${result.msOverheadPerTicket.toFixed(1).padStart(8)} ms  (${result.ratioPerTicket.toFixed(2)}x)`,
      '',
    ].join('\n'),
  );
