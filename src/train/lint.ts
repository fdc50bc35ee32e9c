import { VtError } from '../errors.ts';
import { metricNames, parseMetricExpr } from '../expr/metric-expr.ts';
import { formatPath, type LoadedTrain, type TrainProblem } from './loader.ts';
import type { GateSpec, Phase, Train } from './schema.ts';

type Path = (string | number)[];

/**
 * Checks that a schema cannot express: references between parts of the train, reachability,
 * and loops with no way out. Returns every problem found, located in the file.
 */
export function lintTrain(loaded: LoadedTrain): TrainProblem[] {
  const problems: TrainProblem[] = [];
  const report = (path: Path, message: string) =>
    problems.push({ file: loaded.file, ...loaded.locate(path), field: formatPath(path), message });
  const { train } = loaded;

  const dupes = (ids: string[], path: Path, what: string) => {
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      if (seen.has(id)) report([...path, i, 'id'], `duplicate ${what} id "${id}"`);
      seen.add(id);
    });
  };
  dupes(
    train.phases.map((p) => p.id),
    ['phases'],
    'phase',
  );
  dupes(
    train.roles.map((r) => r.id),
    ['roles'],
    'role',
  );
  dupes(
    train.modes.map((m) => m.id),
    ['modes'],
    'mode',
  );
  dupes(
    train.metrics.map((m) => m.id),
    ['metrics'],
    'metric',
  );

  const phases = new Map(train.phases.map((p) => [p.id, p]));
  const roles = new Set(train.roles.map((r) => r.id));
  const modes = new Set(train.modes.map((m) => m.id));
  const metrics = new Set(train.metrics.map((m) => m.id));
  const phaseIds = new Set(phases.keys());
  const suggest = (value: string, known: Iterable<string>) => {
    const list = [...known];
    const close = list.find((k) => editDistance(k, value) <= 2);
    return close
      ? ` (did you mean "${close}"?)`
      : list.length
        ? ` (known: ${list.slice(0, 8).join(', ')})`
        : '';
  };
  const checkExpr = (expr: string, path: Path) => {
    try {
      for (const ref of metricNames(parseMetricExpr(expr))) {
        const [name = ref, scope] = ref.split('@');
        if (!metrics.has(name))
          report(path, `unknown metric "${name}"${suggest(name, metrics)}; declare it under metrics:`);
        if (scope !== undefined && scope !== 'latest' && !phaseIds.has(scope))
          report(path, `"${ref}": @${scope} is neither @latest nor a phase${suggest(scope, phaseIds)}`);
      }
    } catch (err) {
      report(path, err instanceof Error ? err.message : String(err));
    }
  };

  if (train.deployment && !phases.has(train.deployment))
    report(['deployment'], `unknown phase "${train.deployment}"${suggest(train.deployment, phases.keys())}`);

  for (const [person, held] of Object.entries(train.people)) {
    held.forEach((r, i) => {
      if (!roles.has(r)) report(['people', person, i], `unknown role "${r}"${suggest(r, roles)}`);
    });
  }

  train.phases.forEach((phase, pi) => {
    const at = (...rest: Path): Path => ['phases', pi, ...rest];
    if (!roles.has(phase.owner))
      report(at('owner'), `unknown role "${phase.owner}"${suggest(phase.owner, roles)}`);
    const support = phase.support ?? [];
    support.forEach((r, i) => {
      if (!roles.has(r)) report(at('support', i), `unknown role "${r}"${suggest(r, roles)}`);
      else if (r === phase.owner)
        report(at('support', i), `${r} owns ${phase.id}; a role cannot also support it`);
      else if (support.indexOf(r) !== i) report(at('support', i), `${r} is listed twice`);
    });
    if (phase.mode && !modes.has(phase.mode))
      report(at('mode'), `unknown mode "${phase.mode}"${suggest(phase.mode, modes)}`);
    dupes(
      phase.checklist.map((c) => c.id),
      at('checklist'),
      'checklist item',
    );
    dupes(
      phase.artifacts.map((a) => a.id),
      at('artifacts'),
      'artifact',
    );
    phase.metrics.forEach((m, i) => {
      if (!metrics.has(m)) report(at('metrics', i), `unknown metric "${m}"${suggest(m, metrics)}`);
    });
    const target = (id: string | null | undefined, path: Path) => {
      if (id && !phases.has(id))
        report(path, `transition to unknown phase "${id}"${suggest(id, phases.keys())}`);
    };
    target(phase.next, at('next'));
    target(phase.on_fail, at('on_fail'));
    phase.routes.forEach((r, i) => {
      target(r.to, at('routes', i, 'to'));
      checkExpr(r.when, at('routes', i, 'when'));
    });
    const gateIds: string[] = [];
    for (const side of ['entry', 'exit'] as const) {
      phase.gates[side].forEach((g, gi) => {
        lintGate(g, at('gates', side, gi), phase, { roles, checkExpr, report, gateIds, suggest });
      });
    }
  });

  reachability(train, report);
  return problems;
}

interface GateLintCtx {
  roles: Set<string>;
  checkExpr(expr: string, path: Path): void;
  report(path: Path, message: string): void;
  gateIds: string[];
  suggest(value: string, known: Iterable<string>): string;
}

function lintGate(g: GateSpec, path: Path, phase: Phase, ctx: GateLintCtx): void {
  if (ctx.gateIds.includes(g.id))
    ctx.report([...path, 'id'], `duplicate gate id "${g.id}" in phase ${phase.id}`);
  ctx.gateIds.push(g.id);
  switch (g.kind) {
    case 'checklist': {
      const items = new Set(phase.checklist.map((c) => c.id));
      g.items?.forEach((id, i) => {
        if (!items.has(id))
          ctx.report([...path, 'items', i], `unknown checklist item "${id}"${ctx.suggest(id, items)}`);
      });
      if (!phase.checklist.length)
        ctx.report(path, `phase ${phase.id} has no checklist for this gate to check`);
      break;
    }
    case 'artifacts': {
      const arts = new Set(phase.artifacts.map((a) => a.id));
      g.artifacts?.forEach((id, i) => {
        if (!arts.has(id))
          ctx.report([...path, 'artifacts', i], `unknown artifact "${id}"${ctx.suggest(id, arts)}`);
      });
      break;
    }
    case 'metric':
      ctx.checkExpr(g.expr, [...path, 'expr']);
      break;
    case 'approval':
      if (!ctx.roles.has(g.role))
        ctx.report([...path, 'role'], `unknown role "${g.role}"${ctx.suggest(g.role, ctx.roles)}`);
      break;
    case 'all':
    case 'any':
      g.gates.forEach((child, i) => {
        lintGate(child, [...path, 'gates', i], phase, ctx);
      });
      break;
    case 'command':
      break;
  }
}

/**
 * Every phase must be reachable from the first, and every phase must have a way out: to the end of
 * the train, or into the operations stage, where a project runs until a person retires it.
 */
function reachability(train: Train, report: (path: Path, message: string) => void): void {
  const ids = train.phases.map((p) => p.id);
  const byId = new Map(train.phases.map((p) => [p.id, p]));
  const edges = (p: Phase) =>
    [p.next, p.on_fail, ...p.routes.map((r) => r.to)].filter((x): x is string => !!x && byId.has(x));
  const seen = new Set<string>();
  const stack = [ids[0]!];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...edges(byId.get(id)!));
  }
  train.phases.forEach((p, i) => {
    if (!seen.has(p.id)) report(['phases', i, 'id'], `phase "${p.id}" is unreachable from "${ids[0]}"`);
  });
  // Ways out: a phase with no `next` ends the train; an operations phase is left by retiring the
  // project (vt retire). Then anything with an edge into a phase that has a way out.
  const out = new Set(train.phases.filter((p) => !p.next || p.stage === 'operations').map((p) => p.id));
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of train.phases) {
      if (!out.has(p.id) && edges(p).some((e) => out.has(e))) {
        out.add(p.id);
        changed = true;
      }
    }
  }
  if (!out.size)
    report(
      ['phases'],
      'no phase ends the train: give the last phase `next: null`, or put the phases a project cycles through for good in the operations stage',
    );
  train.phases.forEach((p, i) => {
    if (out.size && !out.has(p.id) && seen.has(p.id))
      report(
        ['phases', i, 'id'],
        `phase "${p.id}" is in a loop with no way out: to the end of the train, or into operations (left by vt retire)`,
      );
  });
}

/** Throw when the linter finds anything: a train with broken references must not be pinned by a project. */
export function assertTrainSound(loaded: LoadedTrain): void {
  const problems = lintTrain(loaded);
  if (problems.length) {
    throw new VtError(
      'TRAIN_INVALID',
      `the train has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n${problems
        .slice(0, 20)
        .map((p) => `${p.file}:${p.line}:${p.column}: ${p.field}: ${p.message}`)
        .join('\n')}`,
      { hint: 'Fix them, then run: vt lint', details: { problems } },
    );
  }
}

export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
