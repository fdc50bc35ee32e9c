import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { verifyStore } from '../../audit/audit.ts';
import { runAutopilot } from '../../autopilot/worker.ts';
import { openWorkspaces } from '../../autopilot/workspace.ts';
import type { Clock } from '../../engine/engine.ts';
import { Tickets } from '../../engine/ticket-ops.ts';
import { VtError } from '../../errors.ts';
import { loadIntegrations } from '../../integrations/config.ts';
import { parseTrain } from '../../train/loader.ts';
import { engineOn, TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';
import { progressPrinter, writeLauncher } from './autopilot.ts';
import { TEMPLATES_DIR, writeStarter } from './setup.ts';

const EXAMPLE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/penguins');
const MARKER = '.vt-demo';
export const DEMO_PROJECT = 'penguins';
export const DEMO_OPERATOR = 'demo-operator';
/** The monitoring windows the demo runs: the first drifts, the second does not and returns to monitoring. */
export const DEMO_WINDOWS = 2;

/**
 * The demo's clock: the machine's time, moved forward to each scheduled visit's due time so a weekly
 * schedule runs in seconds. It never goes back: it starts at the project's last recorded time, so a
 * demo resumed after a kill continues where the recorded history stopped.
 */
export class DemoClock implements Clock {
  #offset: number;
  constructor(notBefore: Date | null) {
    this.#offset = notBefore ? Math.max(0, notBefore.getTime() - Date.now()) : 0;
  }
  now(): Date {
    return new Date(Date.now() + this.#offset);
  }
  /** Move to `t` (never back). */
  advanceTo(t: Date): void {
    this.#offset = Math.max(this.#offset, t.getTime() - Date.now());
  }
}

/** The demo's train: the built-in template, every role played by the example's step scripts. */
export function demoTrain(): string {
  const doc = parseDocument(readFileSync(join(TEMPLATES_DIR, 'ml-value-train.yaml'), 'utf8'));
  const run = ['{node}', join(EXAMPLE, 'steps', 'run.ts')];
  const roles = doc.get('roles') as { items: { set(k: string, v: unknown): void }[] };
  for (const role of roles.items)
    role.set('executor', doc.createNode({ kind: 'command', run, timeout_s: 300 }));
  doc.set('people', doc.createNode({ [DEMO_OPERATOR]: ['conductor', 'evaluator'] }));
  doc.commentBefore = ' The vt demo train: ml-value-train with every role played by examples/penguins/steps.';
  return doc.toString();
}

function git(dir: string, ...args: string[]) {
  execFileSync(
    'git',
    [
      '-C',
      dir,
      '-c',
      'user.name=Value Train demo',
      '-c',
      'user.email=demo@localhost',
      '-c',
      'commit.gpgsign=false',
      ...args,
    ],
    {
      stdio: 'ignore',
    },
  );
}

/** Write vt.yaml, the document templates and a git repository in `dir`, once. */
const SET_UP = 'set up';

/**
 * Write vt.yaml, the document templates and a git repository in `dir`, once. The marker is written
 * first and completed last, so a demo killed half-way through setting up just sets up again.
 */
function setUp(ctx: CliContext, dir: string): void {
  const marker = join(dir, MARKER);
  if (
    existsSync(marker) &&
    readFileSync(marker, 'utf8').includes(SET_UP) &&
    existsSync(join(dir, TRAIN_FILE))
  )
    return;
  const entries = existsSync(dir) ? readdirSync(dir).filter((e) => e !== MARKER) : [];
  if (entries.length && !existsSync(marker)) {
    throw new VtError(
      'CONFLICT',
      `${dir} is not empty: vt demo writes vt.yaml, .vt/ and a git repository there`,
      {
        hint: 'Run it in an empty folder: vt demo --dir ./demo',
      },
    );
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(marker, 'Created by vt demo (setting up); vt demo --reset removes what it made here.\n');
  writeStarter(dir, 'ml-value-train', DEMO_OPERATOR, true);
  const text = demoTrain();
  parseTrain(text, join(dir, TRAIN_FILE));
  writeFileSync(join(dir, TRAIN_FILE), text);
  writeFileSync(join(dir, '.gitignore'), '.vt/\n.vt-demo\n');
  try {
    git(dir, 'init', '-q');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'vt demo: train and document templates');
  } catch {
    rmSync(join(dir, '.git'), { recursive: true, force: true }); // no git here: plain folders
  }
  writeFileSync(marker, `Created by vt demo (${SET_UP}); vt demo --reset removes what it made here.\n`);
  ctx.io.err(`${paint(ctx.color, 'green', '✓')} set up the penguins example in ${dir}\n`);
}

function reset(dir: string): void {
  if (!existsSync(join(dir, MARKER))) {
    if (existsSync(dir) && readdirSync(dir).length)
      throw new VtError('CONFLICT', `${dir} was not set up by vt demo; refusing to delete anything there`);
    return;
  }
  for (const f of ['.vt', '.git', TRAIN_FILE, 'templates', '.gitignore', MARKER])
    rmSync(join(dir, f), { recursive: true, force: true });
}

export function registerDemo(program: Command, withCtx: WithCtx): void {
  program
    .command('demo')
    .description('carry a real ML project (penguins, logistic regression) through all 18 phases on autopilot')
    .option('--reset', 'start over: remove what an earlier demo made in the folder')
    .option('-c, --concurrency <n>', 'tickets in flight', '1')
    .addHelpText(
      'after',
      '\nThe demo sets up vt.yaml, a store in .vt/ and a git repository in the folder (empty, or one an earlier\ndemo made), then runs the autopilot. Run again after an interruption, it resumes.\n\nExamples:\n  vt demo --dir ./demo\n  vt demo --dir ./demo --reset\n  cd demo && vt status penguins && vt audit verify',
    )
    .action(
      withCtx(async (ctx, o: { reset?: boolean }) => {
        const dir = ctx.cwd;
        const started = performance.now();
        if (o.reset) reset(dir);
        setUp(ctx, dir);
        const { store } = await ctx.vt();
        const last = await store.db
          .selectFrom('projects')
          .select('updated_at')
          .where('id', '=', DEMO_PROJECT)
          .executeTakeFirst();
        const clock = new DemoClock(last ? new Date(last.updated_at) : null);
        const engine = engineOn(store, { clock, integrations: loadIntegrations(dir, ctx.io.env) });
        const tickets = new Tickets(engine);
        const loaded = parseTrain(readFileSync(join(dir, TRAIN_FILE), 'utf8'), join(dir, TRAIN_FILE));
        const operator = { actor: DEMO_OPERATOR };
        const exists = await store.db
          .selectFrom('projects')
          .select('id')
          .where('id', '=', DEMO_PROJECT)
          .executeTakeFirst();
        if (!exists) {
          await engine.createProject(
            {
              id: DEMO_PROJECT,
              name: 'Penguin sexing from field measurements',
              team: 'field-research',
              priority: 'now',
              workspace: dir,
              train: loaded,
            },
            { ...operator, idempotencyKey: 'demo:create' },
          );
          await tickets.addIssue(
            DEMO_PROJECT,
            { title: 'Carry the penguins project through the train', priority: 'now', labels: ['demo'] },
            {
              ...operator,
              idempotencyKey: 'demo:issue',
            },
          );
        }
        const deps = {
          engine,
          tickets,
          workspaces: await openWorkspaces(dir),
          root: dir,
          dbTarget: ctx.dbTarget(),
          binDir: writeLauncher(dir),
        };
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        const print = progressPrinter(ctx, started);
        try {
          // Run the autopilot; when it stops on an approval gate, the operator reviews and approves.
          for (let round = 0; round < 100 && !stop.signal.aborted; round++) {
            await runAutopilot(deps, {
              concurrency: 1,
              once: false,
              watch: false,
              project: DEMO_PROJECT,
              leaseMs: 10_000,
              heartbeatMs: 2_000,
              backoffMs: 500,
              pollMs: 200,
              onProgress: print,
              signal: stop.signal,
            });
            const s = await engine.state(DEMO_PROJECT);
            const waiting = Object.values(s.tickets).filter((t) => t.status === 'awaiting-approval');
            if (waiting.length) {
              await engine.approve(DEMO_PROJECT, operator, { reason: 'demo operator reviewed the evidence' });
              ctx.io.err(`${paint(ctx.color, 'green', '✓')} ${DEMO_OPERATOR} approved ${s.phase}\n`);
              continue;
            }
            // Operating, the project waits for its next scheduled visit: move the clock to it while the
            // demo still has windows to show.
            const v = s.scheduled;
            if (!v || v.ticket !== null || windowsScored(s) >= DEMO_WINDOWS) break;
            clock.advanceTo(new Date(v.dueAt));
            ctx.io.err(
              `${paint(ctx.color, 'cyan', '⏰')} the demo's clock moves to ${v.dueAt}: the visit of ${v.phase} falls due\n`,
            );
          }
        } finally {
          process.off('SIGINT', onSignal);
        }
        if (stop.signal.aborted) {
          ctx.io.err('interrupted; run vt demo again to resume\n');
          return 130;
        }
        return summarize(ctx, dir, started);
      }),
    );
}

/** Monitoring windows scored so far: monitoring visits whose ticket finished. */
function windowsScored(s: { tickets: Record<string, { phase: string; status: string }> }): number {
  return Object.values(s.tickets).filter(
    (t) => t.phase === 'monitoring' && (t.status === 'done' || t.status === 'reworked'),
  ).length;
}

async function summarize(ctx: CliContext, dir: string, started: number): Promise<number> {
  const { engine, store } = await ctx.vt();
  const s = await engine.state(DEMO_PROJECT);
  const train = await engine.train(s.trainHash);
  const transitions = await store.db
    .selectFrom('transitions')
    .selectAll()
    .where('project_id', '=', DEMO_PROJECT)
    .orderBy('n')
    .execute();
  const visited = new Set(transitions.flatMap((t) => [t.from_phase, t.to_phase ?? t.from_phase]));
  const gates = await store.db
    .selectFrom('events')
    .select('payload')
    .where('project_id', '=', DEMO_PROJECT)
    .where('type', '=', 'gate.evaluated')
    .orderBy('seq')
    .execute();
  const firstTry = new Map<string, boolean>();
  for (const g of gates) {
    const p = JSON.parse(g.payload) as { phase: string; visit: number; side: string; passed: boolean };
    if (p.side !== 'exit') continue;
    const key = `${p.phase}#${p.visit}`;
    if (!firstTry.has(key)) firstTry.set(key, p.passed);
  }
  const loops = transitions.filter((t) => t.kind === 'route' || t.kind === 'rework');
  // Each monitoring visit scores one window from the field feed; what followed is its transition.
  const psi = await store.db
    .selectFrom('metrics')
    .select(['value', 'visit'])
    .where('project_id', '=', DEMO_PROJECT)
    .where('name', '=', 'psi')
    .where('phase', '=', 'monitoring')
    .orderBy('seq')
    .execute();
  const leftMonitoring = transitions.filter((t) => t.from_phase === 'monitoring');
  // Where each window led, until the project was back in monitoring (the operations cycle).
  const pathFrom = (n: number) => {
    const out: string[] = [];
    for (const t of transitions.filter((x) => x.n >= n)) {
      out.push(t.to_phase ?? '(end)');
      if (t.to_phase === 'monitoring' || t.to_phase === null) break;
    }
    return out;
  };
  const windows = psi.map((p, i) => ({
    window: i + 1,
    psi: p.value,
    to: leftMonitoring[i]?.to_phase ?? null,
    drift: leftMonitoring[i]?.kind === 'route',
    path: leftMonitoring[i] ? pathFrom(leftMonitoring[i]!.n) : [],
  }));
  // Operating, the project waits for its next scheduled visit.
  const v = s.scheduled && s.scheduled.ticket === null ? s.scheduled : null;
  const next = v
    ? {
        phase: v.phase,
        ...(v.phase === 'monitoring' ? { window: windows.length + 1 } : {}),
        due_at: v.dueAt,
        schedule: v.schedule,
      }
    : null;
  const verified = await verifyStore(store.db);
  const summary = {
    project: DEMO_PROJECT,
    status: s.status,
    phases_done: train.phases.filter((p) => visited.has(p.id)).length,
    phases: train.phases.length,
    phase_visits: firstTry.size,
    gates_passed_first_time: [...firstTry.values()].filter(Boolean).length,
    rework_loops: loops.map((t) => `${t.from_phase} → ${t.to_phase} (${t.reason ?? t.kind})`),
    windows,
    next,
    metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, v]) => [k, v.value])),
    wall_time_s: Math.round((performance.now() - started) / 100) / 10,
    artifacts: join(dir, '.vt', 'workspaces'),
    audit: verified.ok
      ? `${verified.checked} events verify`
      : `FAILED at ${verified.firstBad?.project_id}#${verified.firstBad?.seq}`,
  };
  if (ctx.json) json(ctx.io, { type: 'summary', ...summary });
  const c = ctx.color;
  const ok = s.status === 'operating' && next !== null && summary.phases_done === summary.phases;
  const operating = next
    ? `operating: ${next.phase}${'window' in next ? ` window ${next.window}` : ''} falls due ${next.due_at} (${next.schedule})`
    : `project ${s.status}`;
  ctx.io.err(
    [
      '',
      `${ok ? paint(c, 'green', '✓') : paint(c, 'red', '✗')} ${paint(c, 'bold', 'penguins')}: ${summary.phases_done}/${summary.phases} phases done; ${operating}`,
      `  exit gates passed first time: ${summary.gates_passed_first_time} of ${summary.phase_visits} phase visits`,
      `  loops taken: ${summary.rework_loops.length ? summary.rework_loops.join('; ') : 'none'}`,
      `  monitoring windows: ${
        windows
          .map(
            (w) =>
              `#${w.window} psi ${w.psi} ${w.drift ? 'drift' : 'no drift'} → ${w.path.length ? w.path.join(' → ') : '(waiting)'}`,
          )
          .join('; ') || 'none'
      }`,
      `  model: auc ${summary.metrics.auc ?? '?'}, f1 ${summary.metrics.f1 ?? '?'}, psi ${summary.metrics.psi ?? '?'}`,
      `  wall time: ${summary.wall_time_s} s`,
      `  artifacts: ${summary.artifacts} (one git worktree per ticket; the project line is branch vt/penguins)`,
      `  audit: ${summary.audit}`,
      `  next: cd ${dir} && vt status penguins && vt plan && vt audit log penguins (vt retire penguins --reason … ends its operations)`,
      '',
    ].join('\n'),
  );
  return ok && verified.ok ? 0 : 1;
}
