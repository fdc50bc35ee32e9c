import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import {
  generateText,
  isStepCount,
  type LanguageModel,
  RetryError,
  type StopCondition,
  type ToolSet,
  tool,
} from 'ai';
import { z } from 'zod';
import { estimateTokens } from '../../context/handoff.ts';
import { redact, stripControl } from '../../redact.ts';
import type { ExecutorSpec } from '../../train/schema.ts';
import { openSessionLog } from '../session-log.ts';
import { callSessionTool, SESSION_TOOLS, type SessionBinding, type ToolName } from '../tools.ts';
import type { ExecutorResult } from '../types.ts';
import { DEFAULT_RETRY, ModelFault, resilientModel } from './model-faults.ts';
import { costOf, type Price } from './pricing.ts';

type LlmSpec = Extract<ExecutorSpec, { kind: 'llm' }>;

/** The model an llm executor talks to, or why it cannot: keys come only from the environment. */
export function languageModel(
  spec: LlmSpec,
  env: NodeJS.ProcessEnv = process.env,
): { model: LanguageModel } | { unavailable: string } {
  const baseURL = spec.base_url ? { baseURL: spec.base_url } : {};
  switch (spec.provider) {
    case 'anthropic': {
      const apiKey = env.ANTHROPIC_API_KEY;
      if (!apiKey)
        return { unavailable: 'the llm executor (anthropic) has no API key: ANTHROPIC_API_KEY is not set' };
      return { model: createAnthropic({ apiKey, ...baseURL })(spec.model) };
    }
    case 'openai': {
      const apiKey = env.OPENAI_API_KEY;
      if (!apiKey)
        return { unavailable: 'the llm executor (openai) has no API key: OPENAI_API_KEY is not set' };
      return { model: createOpenAI({ apiKey, ...baseURL })(spec.model) };
    }
    case 'openai-compatible': {
      if (!spec.base_url)
        return {
          unavailable: 'the llm executor (openai-compatible) needs base_url, e.g. http://127.0.0.1:11434/v1',
        };
      // Local servers (Ollama, llama.cpp) usually take no key; VT_LLM_API_KEY is sent when set.
      const apiKey = env.VT_LLM_API_KEY;
      return {
        model: createOpenAICompatible({
          name: 'openai-compatible',
          baseURL: spec.base_url,
          includeUsage: true,
          ...(apiKey ? { apiKey } : {}),
        })(spec.model),
      };
    }
  }
}

/** The session's tools as AI SDK tools; a refusal is returned to the model as the tool's result. */
export function sessionToolSet(b: SessionBinding, names: readonly ToolName[]): ToolSet {
  const set: ToolSet = {};
  for (const name of names) {
    const def = SESSION_TOOLS[name];
    set[name] = tool({
      description: def.description,
      inputSchema: z.object(def.input),
      execute: async (input: unknown) => {
        const o = await callSessionTool(b, name, input);
        return o.ok ? o.value : { refused: true, code: o.code, message: o.message };
      },
    });
  }
  return set;
}

export interface LlmRun {
  model: LanguageModel;
  system: string;
  prompt: string;
  tools: ToolSet;
  /** The tools the model is shown (the mode's subset); any other call is refused by the session binding. */
  activeTools: string[];
  maxSteps: number;
  price: Price | null;
  /** USD left under the tightest budget cap, with its name for the message; null when uncapped. */
  budget: { usd: number; which: string } | null;
  /** The whole session's timeout. */
  timeoutMs: number;
  /** One model call's timeout (a call that outlives it is retried once). */
  stepTimeoutMs: number;
  /** Retries of one model call after a transient fault (429, 5xx, a dropped connection). */
  retries: number;
  /** The first backoff before a retry (doubling), unless the provider says retry-after. */
  baseDelayMs?: number;
  logFile: string;
  signal?: AbortSignal | undefined;
  /** Records a call the SDK refused before any tool ran (a tool not offered, malformed input). */
  onRefused?: (tool: string, reason: string) => Promise<void>;
}

/** One model call's default timeout: long enough for a slow model's long answer, short enough to notice a hung one. */
export const DEFAULT_STEP_TIMEOUT_S = 300;

/** A step's text in the log: enough to follow the session, never megabytes. */
const LOGGED_TEXT = 4000;
const clip = (text: string, n: number) =>
  text.length > n ? `${text.slice(0, n)}… (${text.length - n} more characters)` : text;

/**
 * Run a model with tools for one session (generateText with a step limit). Each model call has its
 * own timeout and is retried on transient faults (429, 5xx, a dropped connection) with backoff that
 * honours retry-after; a permanent fault (a refused key, a bad request, an unknown model) or a
 * provider still failing past the retries ends the session `unavailable` with the reason, so a
 * person hears at once and no attempt is burned. A reply cut at the model's output limit is a failed
 * step. Records the usage the provider reported; prices it; stops before a step would pass the
 * budget cap. The transcript of steps goes, redacted and capped, to the session log.
 */
export async function runLlm(run: LlmRun): Promise<ExecutorResult> {
  const sessionLog = openSessionLog(run.logFile);
  const log = (text: string) => sessionLog.write(redact(stripControl(text)));
  const started = performance.now();
  const cost = (i: number, o: number) => (run.price ? costOf(i, o, run.price) : null);
  const capMessage = (spent: number) =>
    `budget cap reached: the ${run.budget!.which} has $${run.budget!.usd.toFixed(4)} left and this session has spent $${spent.toFixed(4)}`;
  const end = (r: ExecutorResult): ExecutorResult => {
    const ms = Math.round(performance.now() - started);
    sessionLog.close(`[vt] ${r.outcome} after ${ms} ms: ${r.message}\n`);
    return r;
  };

  if (run.budget && run.price) {
    const first = costOf(estimateTokens(run.system + run.prompt), 0, run.price);
    if (first > run.budget.usd) {
      log(`[vt] not started: the first request alone (~$${first.toFixed(4)}) would pass the cap\n`);
      return end({
        outcome: 'unavailable',
        exitCode: null,
        message: capMessage(0),
        tokensIn: 0,
        tokensOut: 0,
        cost: 0,
      });
    }
  }

  let capped = false;
  /** Usage of every finished step, kept as they end so a failed session still reports its spend. */
  const done: {
    finishReason: string;
    usage: { inputTokens?: number | undefined; outputTokens?: number | undefined };
  }[] = [];
  /** Calls refused by the SDK itself: our tools never throw, so a tool error is one of these. */
  const refused: { tool: string; reason: string }[] = [];
  const recordRefusals = async () => {
    for (const r of refused.splice(0)) await run.onRefused?.(r.tool, r.reason);
  };
  const totals = (
    steps: readonly { usage: { inputTokens?: number | undefined; outputTokens?: number | undefined } }[],
  ) =>
    steps.reduce(
      (t, s) => ({ in: t.in + (s.usage.inputTokens ?? 0), out: t.out + (s.usage.outputTokens ?? 0) }),
      { in: 0, out: 0 },
    );
  // Stop when another step like the last one would pass the cap: a step's cost is known only after it.
  const withinBudget: StopCondition<ToolSet> = ({ steps }) => {
    if (!run.budget || !run.price) return false;
    const t = totals(steps);
    const last = steps.at(-1)!.usage;
    const spent = costOf(t.in, t.out, run.price);
    const next = costOf(last.inputTokens ?? 0, last.outputTokens ?? 0, run.price);
    if (spent + next > run.budget.usd) capped = true;
    return capped;
  };
  // A reply cut at the output limit may hold half a tool call or half an answer: stop there.
  const cut: StopCondition<ToolSet> = ({ steps }) => steps.at(-1)?.finishReason === 'length';

  const timeout = AbortSignal.timeout(run.timeoutMs);
  const signal = run.signal ? AbortSignal.any([run.signal, timeout]) : timeout;
  const model = resilientModel(run.model, {
    retries: run.retries,
    stepTimeoutMs: run.stepTimeoutMs,
    baseDelayMs: run.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
    maxWaitMs: DEFAULT_RETRY.maxWaitMs,
    log,
    signal,
  });
  log(
    `[vt] llm session: up to ${run.maxSteps} steps, ${Math.round(run.stepTimeoutMs / 1000)} s a call, ${run.retries} retries; tools ${run.activeTools.join(', ') || '(none)'}\n`,
  );
  try {
    const result = await generateText({
      model,
      system: run.system,
      prompt: run.prompt,
      tools: run.tools,
      activeTools: run.activeTools,
      stopWhen: [isStepCount(run.maxSteps), withinBudget, cut],
      toolCallConcurrency: 1,
      maxRetries: 0, // resilientModel retries, and knows which faults are worth it
      abortSignal: signal,
      onStepEnd: (step) => {
        done.push(step);
        for (const part of step.content)
          if (part.type === 'tool-error')
            refused.push({
              tool: part.toolName,
              reason:
                `NOT_PERMITTED: not offered in this phase or malformed: ${(part.error as Error)?.message ?? part.error}`.slice(
                  0,
                  1000,
                ),
            });
        const lines = [`\n[step ${step.stepNumber + 1}] finish=${step.finishReason}`];
        if (step.text) lines.push(clip(step.text, LOGGED_TEXT));
        for (const c of step.toolCalls) lines.push(`→ ${c.toolName} ${clip(JSON.stringify(c.input), 2000)}`);
        for (const r of step.toolResults)
          lines.push(`← ${r.toolName} ${clip(JSON.stringify(r.output), 2000)}`);
        lines.push(`usage: in ${step.usage.inputTokens ?? '?'} out ${step.usage.outputTokens ?? '?'}`);
        log(`${lines.join('\n')}\n`);
      },
    });
    await recordRefusals();
    const t = totals(done.length ? done : result.steps);
    const spent = cost(t.in, t.out);
    const figures = { tokensIn: t.in, tokensOut: t.out, cost: spent };
    if (capped)
      return end({ outcome: 'unavailable', exitCode: null, message: capMessage(spent ?? 0), ...figures });
    const last = result.steps.at(-1);
    if (last?.finishReason === 'length')
      return end({
        outcome: 'failed',
        exitCode: null,
        message: `step ${result.steps.length}: the model's reply was cut at its output limit (finish reason length), so its work is not taken`,
        ...figures,
      });
    const message = `${result.steps.length} step(s), finish ${result.finishReason}${spent === null ? '' : `, $${spent.toFixed(4)}`}`;
    return end({ outcome: 'succeeded', exitCode: 0, message, ...figures });
  } catch (err) {
    await recordRefusals().catch(() => {});
    const t = totals(done);
    const figures = { tokensIn: t.in, tokensOut: t.out, cost: cost(t.in, t.out) };
    const fault = modelFaultIn(err);
    if (fault) return end({ outcome: 'unavailable', exitCode: null, message: fault.message, ...figures });
    const message = timeout.aborted
      ? `no result within ${Math.round(run.timeoutMs / 1000)} s`
      : redact((err as Error).message ?? String(err)).slice(0, 500);
    return end({ outcome: timeout.aborted ? 'timed-out' : 'failed', exitCode: null, message, ...figures });
  }
}

/** The ModelFault behind an error generateText threw (it may wrap it), if any. */
function modelFaultIn(err: unknown): ModelFault | null {
  for (let e = err, i = 0; e && i < 5; i++) {
    if (e instanceof ModelFault) return e;
    e = RetryError.isInstance(e) ? e.lastError : (e as { cause?: unknown }).cause;
  }
  return null;
}
