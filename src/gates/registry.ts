import type { GateSpec } from '../train/schema.ts';
import { approvalGate } from './approval.ts';
import { artifactsGate } from './artifacts.ts';
import { checklistGate } from './checklist.ts';
import { commandGate } from './command.ts';
import { metricGate } from './metric.ts';
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
 * Evaluate a phase's gates on one side. A failing gate with a live waiver counts as waived, and the
 * waiver is part of the evidence.
 */
export async function evaluateGates(specs: readonly GateSpec[], ctx: GateContext): Promise<GateResult[]> {
  const results: GateResult[] = [];
  for (const spec of specs) {
    const r = await evaluateGate(spec, ctx);
    const waiver = ctx.state.waivers[`${ctx.phase.id}/${spec.id}`];
    if (r.status !== 'pass' && waiver && Date.parse(waiver.expiresAt) > ctx.now.getTime()) {
      results.push({
        ...r,
        status: 'waived',
        message: `waived by ${waiver.actor} until ${waiver.expiresAt}: ${waiver.reason} (was: ${r.message})`,
        evidence: {
          ...r.evidence,
          waiver: { actor: waiver.actor, reason: waiver.reason, expires_at: waiver.expiresAt },
        },
      });
    } else results.push(r);
  }
  return results;
}

export const gatesPassed = (results: readonly GateResult[]) =>
  results.every((r) => r.status === 'pass' || r.status === 'waived');
