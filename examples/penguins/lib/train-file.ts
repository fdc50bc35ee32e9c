import { parse } from 'yaml';
import { exists, readText, type StepContext } from './workspace.ts';

/*
 * Thresholds come from the train the step is given (vt.yaml in its workspace), not from constants in
 * the step: the drift threshold from monitoring's route, the quality bar from validation's metric gate.
 */

/** A bound on one metric, as written in a train expression (`psi > 0.2`). */
export interface Bound {
  metric: string;
  op: '>' | '>=' | '<' | '<=';
  value: number;
}

interface TrainDoc {
  phases?: {
    id: string;
    routes?: { when: string; to: string; reason?: string }[];
    gates?: { exit?: { id: string; kind: string; expr?: string }[] };
  }[];
}

/** Parse `name op number` terms joined by `and`; null for anything else (or, arithmetic, two metrics). */
export function parseBounds(expr: string): Bound[] | null {
  const out: Bound[] = [];
  for (const term of expr.split(/\band\b/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(term);
    if (!m) return null;
    out.push({ metric: m[1]!, op: m[2] as Bound['op'], value: Number(m[3]) });
  }
  return out;
}

/** True when `value` is on the side of the bound the expression asks for. */
export function holds(b: Bound, value: number): boolean {
  switch (b.op) {
    case '>':
      return value > b.value;
    case '>=':
      return value >= b.value;
    case '<':
      return value < b.value;
    case '<=':
      return value <= b.value;
  }
}

/** The train in the step's workspace. */
export function readTrainFile(ctx: StepContext): TrainDoc {
  if (!exists(ctx, 'vt.yaml'))
    throw new Error(`the workspace ${ctx.workspace} has no vt.yaml to read thresholds from`);
  return parse(readText(ctx, 'vt.yaml')) as TrainDoc;
}

function phaseOf(train: TrainDoc, id: string) {
  const p = train.phases?.find((x) => x.id === id);
  if (!p) throw new Error(`the train has no phase "${id}"`);
  return p;
}

/** The route of `phase` that fires on a single bound of `metric` (e.g. monitoring's `psi > 0.2`). */
export function routeBound(train: TrainDoc, phase: string, metric: string): Bound & { to: string } {
  for (const r of phaseOf(train, phase).routes ?? []) {
    const bounds = parseBounds(r.when);
    if (bounds?.length === 1 && bounds[0]!.metric === metric) return { ...bounds[0]!, to: r.to };
  }
  throw new Error(
    `the train's ${phase} phase has no route on a bound of ${metric} (such as "${metric} > 0.2")`,
  );
}

/** The bounds of `phase`'s metric exit gates (e.g. validation's `auc >= 0.75 and f1 >= 0.5`). */
export function gateBounds(train: TrainDoc, phase: string): Bound[] {
  return (phaseOf(train, phase).gates?.exit ?? [])
    .filter((g) => g.kind === 'metric' && g.expr)
    .flatMap((g) => parseBounds(g.expr!) ?? []);
}
