import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { mkdirDurable, writeFileDurable } from '../../durable.ts';
import type { Clock } from '../../engine/engine.ts';
import { VtError } from '../../errors.ts';
import { EXAMPLES_DIR, RUNNING_BUILT, TEMPLATES_DIR } from '../../package.ts';
import { foldablePayload } from '../../store/erasure-marker.ts';
import { TRAIN_FILE } from '../../wiring.ts';
import type { CliContext } from '../context.ts';
import type { WithCtx } from '../main.ts';
import { json, paint } from '../output.ts';
import { progressPrinter, writeLauncher } from './autopilot.ts';

const EXAMPLE = join(EXAMPLES_DIR, 'penguins');
const MARKER = '.vt-demo';
export const DEMO_PROJECT = 'penguins';
export const DEMO_OPERATOR = 'demo-operator';
/** The monitoring windows the demo runs: the first drifts, the second does not and returns to monitoring. */
export const DEMO_WINDOWS = 2;
/** The demo's leases: a ticket of a killed demo run is taken over this long after its last heartbeat. */
const DEMO_LEASE_MS = 10_000;

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

/**
 * The demo's train: the built-in template, every role played by the example's step scripts, and the
 * operator who approves, with the key that signs the operator's decisions.
 */
export async function demoTrain(operatorKey: string): Promise<string> {
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(readFileSync(join(TEMPLATES_DIR, 'ml-value-train.yaml'), 'utf8'));
  // In an installed package the steps are built JavaScript: Node does not strip types under node_modules.
  const run = ['{node}', join(EXAMPLE, 'steps', RUNNING_BUILT ? 'run.js' : 'run.ts')];
  const roles = doc.get('roles') as { items: { set(k: string, v: unknown): void }[] };
  for (const role of roles.items)
    role.set('executor', doc.createNode({ kind: 'command', run, timeout_s: 300 }));
  doc.set(
    'people',
    doc.createNode({ [DEMO_OPERATOR]: { roles: ['conductor', 'evaluator'], keys: [{ key: operatorKey }] } }),
  );
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
      // git does not fsync by default; the demo's marker says "set up" only once the repository is durable.
      '-c',
      'core.fsync=all',
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
/**
 * The demo operator's signing key: a vt key made for the demo (~/.config/vt/keys/demo-operator, or
 * under $XDG_CONFIG_HOME), outside the demo folder and so outside every workspace its agents work in.
 */
async function operatorKey(ctx: CliContext, dir: string) {
  const [{ keySigner }, { initVtKey, loadKeyFile, vtKeyPath }] = await Promise.all([
    import('../../identity/keys.ts'),
    import('../../identity/vt-keys.ts'),
  ]);
  const path = vtKeyPath(ctx.io.env, DEMO_OPERATOR);
  if (!existsSync(path)) {
    initVtKey(ctx.io.env, DEMO_OPERATOR, { comment: `${DEMO_OPERATOR}@vt-demo`, workspaceRoot: dir });
    ctx.io.err(`${paint(ctx.color, 'green', '✓')} made the demo operator's signing key ${path}\n`);
  }
  return keySigner(loadKeyFile(path), 'vt', path);
}

async function setUp(ctx: CliContext, dir: string): Promise<void> {
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
  mkdirDurable(dir);
  writeFileDurable(marker, 'Created by vt demo (setting up); vt demo --reset removes what it made here.\n');
  const [{ writeStarter }, { formatPublicKey }, { parseTrain }] = await Promise.all([
    import('../starter.ts'),
    import('../../identity/public-key.ts'),
    import('../../train/loader.ts'),
  ]);
  await writeStarter(dir, 'ml-value-train', DEMO_OPERATOR, true);
  const text = await demoTrain(formatPublicKey((await operatorKey(ctx, dir)).publicKey));
  parseTrain(text, join(dir, TRAIN_FILE));
  writeFileDurable(join(dir, TRAIN_FILE), text);
  writeFileDurable(join(dir, '.gitignore'), '.vt/\n.vt-demo\n');
  try {
    git(dir, 'init', '-q');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'vt demo: train and document templates');
  } catch {
    rmSync(join(dir, '.git'), { recursive: true, force: true }); // no git here: plain folders
  }
  writeFileDurable(marker, `Created by vt demo (${SET_UP}); vt demo --reset removes what it made here.\n`);
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
        await setUp(ctx, dir);
        const signer = await operatorKey(ctx, dir);
        const [
          { store },
          { Tickets },
          { runAutopilot },
          { openWorkspaces },
          { parseTrain },
          { engineOn },
          { loadIntegrations },
          { signDecision },
          { sshProof },
        ] = await Promise.all([
          ctx.vt(),
          import('../../engine/ticket-ops.ts'),
          import('../../autopilot/worker.ts'),
          import('../../autopilot/workspace.ts'),
          import('../../train/loader.ts'),
          import('../../wiring.ts'),
          import('../../integrations/config.ts'),
          import('../../identity/decisions.ts'),
          import('../../identity/proof.ts'),
        ]);
        const exists = await store.db
          .selectFrom('projects')
          .select(['id', 'updated_at'])
          .where('id', '=', DEMO_PROJECT)
          .executeTakeFirst();
        // The demo's own clock, from where the recorded history stopped (a resumed demo never goes back).
        const clock = new DemoClock(exists ? new Date(exists.updated_at) : null);
        const engine = await engineOn(store, {
          clock,
          integrations: await loadIntegrations(dir, ctx.io.env),
        });
        const tickets = new Tickets(engine);
        const loaded = parseTrain(readFileSync(join(dir, TRAIN_FILE), 'utf8'), join(dir, TRAIN_FILE));
        const operator = { actor: DEMO_OPERATOR };
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
              leaseMs: DEMO_LEASE_MS,
              heartbeatMs: 2_000,
              backoffMs: 500,
              pollMs: 200,
              onProgress: print,
              signal: stop.signal,
            });
            const s = await engine.state(DEMO_PROJECT);
            const waiting = Object.values(s.tickets).filter((t) => t.status === 'awaiting-approval');
            if (waiting.length) {
              // The operator signs the approval with the demo's key, as a person signs theirs.
              const reason = 'demo operator reviewed the evidence';
              const payload = await engine.decisionPayload(DEMO_PROJECT, DEMO_OPERATOR, {
                kind: 'approve',
                reason,
              });
              const proof = sshProof(await signDecision(payload, signer));
              await engine.approve(DEMO_PROJECT, operator, { reason, proof });
              ctx.io.err(`${paint(ctx.color, 'green', '✓')} ${DEMO_OPERATOR} approved ${s.phase} (signed)\n`);
              continue;
            }
            // Operating, the project waits for its next scheduled visit: move the clock to it while the
            // demo still has windows to show.
            const v = s.scheduled;
            if (!v || windowsScored(s) >= DEMO_WINDOWS) break;
            if (v.ticket !== null && s.tickets[v.ticket]?.status === 'running') {
              // Held by a run that was killed: its lease lapses within the lease time, then it is taken over.
              ctx.io.err(
                `the visit of ${v.phase} is held by a stopped run; taking it over when its lease lapses\n`,
              );
              await new Promise((r) => setTimeout(r, DEMO_LEASE_MS + 500));
              continue;
            }
            const due = new Date(v.dueAt);
            // Already queued and due, yet not taken: nothing more the clock can do. Queued but not due
            // yet happens on resuming after a kill, with the clock back where the history stopped.
            if (v.ticket !== null && clock.now() >= due) break;
            clock.advanceTo(due);
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
  const { verifyStore } = await import('../../audit/audit.ts');
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
    const p = foldablePayload(g.payload) as { phase: string; visit: number; side: string; passed: boolean };
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
  const due = s.scheduled && s.scheduled.ticket === null ? s.scheduled : null;
  const next = due
    ? {
        phase: due.phase,
        ...(due.phase === 'monitoring' ? { window: windows.length + 1 } : {}),
        due_at: due.dueAt,
        schedule: due.schedule,
      }
    : null;
  // What each visit did: a visit the project came back to re-does its work (its evidence starts empty).
  const ticks = await store.db
    .selectFrom('checklist')
    .select(['phase', 'visit'])
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('project_id', '=', DEMO_PROJECT)
    .where('ticked', '=', 1)
    .groupBy(['phase', 'visit'])
    .execute();
  const tickCount = new Map(ticks.map((t) => [`${t.phase}#${t.visit}`, Number(t.n)]));
  const seen = new Map<string, number>();
  const stays = [
    { phase: train.phases[0]!.id, visit: 1 },
    ...transitions.filter((t) => t.to_phase).map((t, i) => ({ phase: t.to_phase!, visit: i + 2 })),
  ];
  const visits = stays.map((v) => {
    const n = (seen.get(v.phase) ?? 0) + 1;
    seen.set(v.phase, n);
    return { phase: v.phase, visit: n, ticked: tickCount.get(`${v.phase}#${v.visit}`) ?? 0 };
  });
  // Operating, the last stay waits for its visit: nothing has run in it yet.
  const waitingStay = next ? visits.at(-1) : undefined;
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
    visits,
    metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, v]) => [k, v.value])),
    wall_time_s: Math.round((performance.now() - started) / 100) / 10,
    artifacts: `branch vt/${DEMO_PROJECT} of the git repository in ${dir}`,
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
      `  visits the project came back to, and the items each ticked again: ${
        visits
          .filter((v) => v.visit > 1)
          .map((v) => `${v.phase} #${v.visit} (${v === waitingStay ? 'waiting' : v.ticked})`)
          .join(', ') || 'none'
      }`,
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
      `  artifacts: in the commits each session ended with; the project's line is ${summary.artifacts}`,
      `  audit: ${summary.audit}`,
      `  next: cd ${dir} && vt status penguins && vt plan && vt audit log penguins (vt retire penguins --reason … ends its operations)`,
      '',
    ].join('\n'),
  );
  return ok && verified.ok ? 0 : 1;
}
