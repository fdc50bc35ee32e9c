/**
 * Autopilot overhead per ticket: `node bench/autopilot.bench.ts [--json] [--quick]`.
 *
 * The 18-phase bench train with a no-op executor (`true`): each ticket is claimed under a lease,
 * gets a workspace (a git worktree on its branch, or a plain folder), a session with a handoff
 * packet, runs the executor, commits its workspace, evaluates its gates and advances — everything
 * the autopilot adds around the work itself. Reported as milliseconds per ticket and as a ratio to
 * one bare engine transition (engine.advance) measured in the same run, at synchronous=FULL.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAutopilot } from '../src/autopilot/worker.ts';
import { openWorkspaces } from '../src/autopilot/workspace.ts';
import { Engine } from '../src/engine/engine.ts';
import { Tickets } from '../src/engine/ticket-ops.ts';
import { nodeIo } from '../src/io/node-io.ts';
import { openStore } from '../src/store/store.ts';
import { parseTrain } from '../src/train/loader.ts';

const args = new Set(process.argv.slice(2));
const PROJECTS = args.has('--quick') ? 2 : 8;
const PHASES = 18;
const WHO = { actor: 'bench' };

const base = readFileSync(new URL('./fixtures/bench-train.yaml', import.meta.url), 'utf8');
/** The bench train with every phase worked by a command that does nothing. */
const yaml = base.replace(
  '  - { id: lead, name: Lead }',
  '  - { id: lead, name: Lead, executor: { kind: command, run: ["true"] } }',
);

async function setUp(kind: 'git' | 'folder' | 'engine') {
  const dir = mkdtempSync(join(tmpdir(), `vt-bench-ap-${kind}-`));
  writeFileSync(join(dir, 'vt.yaml'), yaml);
  if (kind === 'git') {
    const g = (...a: string[]) =>
      execFileSync('git', ['-C', dir, '-c', 'user.name=b', '-c', 'user.email=b@b', ...a], {
        stdio: 'ignore',
      });
    g('init', '-q');
    g('add', '-A');
    g('commit', '-qm', 'init');
  }
  const store = await openStore(join(dir, '.vt', 'vt.db'), { synchronous: 'FULL' });
  const engine = new Engine({ store, io: nodeIo });
  const train = parseTrain(yaml, join(dir, 'vt.yaml'));
  const tickets = new Tickets(engine);
  for (let i = 0; i < PROJECTS; i++) {
    const id = `p${i}`;
    await engine.createProject({ id, name: id, workspace: dir, train }, WHO);
    await engine.setMetric(id, 'score', 0.9, WHO);
    if (kind !== 'engine') await tickets.addIssue(id, { title: 'walk' }, WHO);
  }
  return { dir, store, engine, tickets };
}

/** Milliseconds per bare engine transition. */
async function bare(): Promise<number> {
  const { dir, store, engine } = await setUp('engine');
  const t0 = performance.now();
  for (let i = 0; i < PROJECTS; i++) for (let k = 0; k < PHASES; k++) await engine.advance(`p${i}`, WHO);
  const ms = (performance.now() - t0) / (PROJECTS * PHASES);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

/** Milliseconds per ticket through the autopilot (concurrency 1, so nothing overlaps). */
async function autopilot(kind: 'git' | 'folder'): Promise<number> {
  const { dir, store, engine, tickets } = await setUp(kind);
  const bin = join(dir, '.vt', 'bin');
  mkdirSync(bin, { recursive: true });
  const t0 = performance.now();
  const summary = await runAutopilot(
    {
      engine,
      tickets,
      workspaces: await openWorkspaces(dir, kind),
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
    },
  );
  const ms = (performance.now() - t0) / (PROJECTS * PHASES);
  if (summary.finished !== PROJECTS * PHASES)
    throw new Error(`benchmark invalid: ${summary.finished} tickets finished`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

const rounds: { bare: number; folder: number; git: number }[] = [];
for (let r = 0; r < 2; r++) {
  const round = { bare: await bare(), folder: await autopilot('folder'), git: await autopilot('git') };
  rounds.push(round);
  process.stderr.write(
    `round ${r + 1}: bare ${round.bare.toFixed(2)} ms, folder ${round.folder.toFixed(1)} ms, git ${round.git.toFixed(1)} ms per ticket\n`,
  );
}
const best = {
  bare: Math.min(...rounds.map((x) => x.bare)),
  folder: Math.min(...rounds.map((x) => x.folder)),
  git: Math.min(...rounds.map((x) => x.git)),
};
const result = {
  tickets: PROJECTS * PHASES,
  msPerBareTransition: best.bare,
  msPerTicketFolder: best.folder,
  msPerTicketGit: best.git,
  ratioFolder: best.folder / best.bare,
  ratioGit: best.git / best.bare,
  rounds,
};
if (args.has('--json')) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else
  process.stdout.write(
    [
      `vt autopilot overhead (no-op executor, ${result.tickets} tickets, best of 2 rounds, synchronous=FULL)`,
      `bare engine transition      ${best.bare.toFixed(2).padStart(8)} ms`,
      `ticket, folder workspaces   ${best.folder.toFixed(1).padStart(8)} ms  (${result.ratioFolder.toFixed(0)}x a transition)`,
      `ticket, git worktrees       ${best.git.toFixed(1).padStart(8)} ms  (${result.ratioGit.toFixed(0)}x a transition)`,
      '',
    ].join('\n'),
  );
