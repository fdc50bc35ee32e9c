import type { MlflowGateSpec } from '../train/mlflow-spec.ts';
import type { GateSpec } from '../train/schema.ts';
import { approvalGate } from './approval.ts';
import { artifactsGate } from './artifacts.ts';
import { checklistGate } from './checklist.ts';
import { commandGate } from './command.ts';
import { metricGate } from './metric.ts';
import { mlflowGate } from './mlflow.ts';
import type { GateContext, GateResult } from './types.ts';

type GateFn = (spec: GateSpec, ctx: GateContext) => Promise<GateResult>;

/** One evaluator per gate kind. */
export const GATE_KINDS: Record<GateSpec['kind'], GateFn> = {
  checklist: (s, c) => checklistGate(s as Extract<GateSpec, { kind: 'checklist' }>, c),
  artifacts: (s, c) => artifactsGate(s as Extract<GateSpec, { kind: 'artifacts' }>, c),
  metric: (s, c) => metricGate(s as Extract<GateSpec, { kind: 'metric' }>, c),
  command: (s, c) => commandGate(s as Extract<GateSpec, { kind: 'command' }>, c),
  approval: (s, c) => approvalGate(s as Extract<GateSpec, { kind: 'approval' }>, c),
  all: (s, c) => combine(s as Extract<GateSpec, { kind: 'all' }>, c),
  any: (s, c) => combine(s as Extract<GateSpec, { kind: 'any' }>, c),
  mlflow: (s, c) => mlflowGate(s as MlflowGateSpec, c),
};

/** Evaluate one gate; a gate that throws is an `error` verdict, never a crash of the caller. */
export async function evaluateGate(spec: GateSpec, ctx: GateContext): Promise<GateResult> {
  try {
    return await GATE_KINDS[spec.kind](spec, ctx);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { gate: spec.id, kind: spec.kind, status: 'error', message, evidence: { error: message } };
  }
}

async function combine(
  spec: Extract<GateSpec, { kind: 'all' | 'any' }>,
  ctx: GateContext,
): Promise<GateResult> {
  const children: GateResult[] = [];
  for (const g of spec.gates) children.push(await evaluateGate(g, ctx));
  const ok = (r: GateResult) => r.status === 'pass' || r.status === 'waived';
  const passed = spec.kind === 'all' ? children.every(ok) : children.some(ok);
  const failing = children.filter((c) => !ok(c));
  return {
    gate: spec.id,
    kind: spec.kind,
    status: passed
      ? 'pass'
      : failing.some((c) => c.status === 'error') && spec.kind === 'all'
        ? 'error'
        : 'fail',
    message: passed
      ? `${spec.kind === 'all' ? 'all' : 'at least one'} of ${children.length} passed`
      : failing.map((c) => `${c.gate}: ${c.message}`).join('; '),
    evidence: { combine: spec.kind, passed: children.filter(ok).map((c) => c.gate) },
    children,
  };
}

/**
 * Why a waiver does not count (null when it does): it expired, its author (or confirmer) did work in
 * this visit, or it waives an approval gate and no second person confirmed it, or the train requires
 * signed decisions and a signature does not verify.
 */
export function waiverProblem(
  spec: GateSpec,
  w: GateContext['waivers'][string],
  ctx: GateContext,
): string | null {
  if (!(Date.parse(w.expiresAt) > ctx.now.getTime()))
    return `the waiver by ${w.actor} expired ${w.expiresAt}`;
  const workers = ctx.evidence.contributors;
  if (workers.includes(w.actor)) return `${w.actor} did work in this visit and cannot waive its gates`;
  if (spec.kind === 'approval') {
    if (!w.confirmedBy) return `waiving an approval needs a second person of ${spec.role} to confirm`;
    if (workers.includes(w.confirmedBy)) return `${w.confirmedBy} did work in this visit and cannot confirm`;
  }
  return ctx.signatures?.waiver(spec.id, w, ctx) ?? null;
}

/**
 * Evaluate a phase's gates on one side. A failing gate with a waiver that counts is waived, and the
 * waiver is part of the evidence.
 */
export async function evaluateGates(specs: readonly GateSpec[], ctx: GateContext): Promise<GateResult[]> {
  const results: GateResult[] = [];
  for (const spec of specs) {
    const r = await evaluateGate(spec, ctx);
    const waiver = ctx.waivers[spec.id];
    if (r.status === 'pass' || !waiver) {
      results.push(r);
      continue;
    }
    const problem = waiverProblem(spec, waiver, ctx);
    const record = {
      actor: waiver.actor,
      confirmed_by: waiver.confirmedBy,
      reason: waiver.reason,
      expires_at: waiver.expiresAt,
    };
    if (problem) {
      results.push({
        ...r,
        message: `${r.message} (not waived: ${problem})`,
        evidence: { ...r.evidence, waiver: { ...record, problem } },
      });
      continue;
    }
    const by = waiver.confirmedBy ? `${waiver.actor} and ${waiver.confirmedBy}` : waiver.actor;
    results.push({
      ...r,
      status: 'waived',
      message: `waived by ${by} until ${waiver.expiresAt}: ${waiver.reason} (was: ${r.message})`,
      evidence: { ...r.evidence, waiver: record },
    });
  }
  return results;
}

export const gatesPassed = (results: readonly GateResult[]) =>
  results.every((r) => r.status === 'pass' || r.status === 'waived');
