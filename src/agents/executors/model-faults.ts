import { APICallError, type LanguageModel, type LanguageModelMiddleware, wrapLanguageModel } from 'ai';
import { redact } from '../../redact.ts';

/*
 * What goes wrong between the llm executor and its model provider, and what vt does about it:
 * transient faults (429, 408, 5xx, a refused or dropped connection, a call that outlives its step
 * timeout) are retried within the session with backoff, honouring `retry-after`; permanent ones (a
 * refused key, a bad request, an unknown model) end the session at once so a person hears the reason.
 */

export type FaultKind = 'transient' | 'permanent';

export interface Fault {
  kind: FaultKind;
  /** HTTP status, when the provider answered. */
  status: number | null;
  /** What happened, for people: the status and the provider's own message, redacted. */
  reason: string;
  /** What the provider asked us to wait (retry-after-ms or retry-after), in ms. */
  retryAfterMs: number | null;
}

/** The session's model could not be reached or refused the work: nothing more this session can do. */
export class ModelFault extends Error {
  readonly fault: Fault;
  readonly tries: number;
  constructor(fault: Fault, tries: number, message: string) {
    super(message);
    this.name = 'ModelFault';
    this.fault = fault;
    this.tries = tries;
  }
}

/** retry-after-ms, then retry-after (seconds or an HTTP date), in ms; null when absent or unreadable. */
export function retryAfterMs(headers: Record<string, string> | undefined, now = Date.now()): number | null {
  if (!headers) return null;
  const get = (name: string) =>
    Object.entries(headers)
      .find(([k]) => k.toLowerCase() === name)?.[1]
      ?.trim();
  const ms = get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const after = get('retry-after');
  if (!after) return null;
  if (/^\d+(\.\d+)?$/.test(after)) return Number(after) * 1000;
  const at = Date.parse(after);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** The provider's own error message from a JSON error body ({error: {message}} and the like). */
function providerMessage(body: string | undefined): string | null {
  if (!body) return null;
  try {
    const j = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    const m = typeof j.error === 'string' ? j.error : (j.error?.message ?? j.message);
    return typeof m === 'string' ? m : null;
  } catch {
    return body.slice(0, 200);
  }
}

const TRANSIENT_STATUS = new Set([408, 409, 425, 429]);

/** Classify an error from one model call. `timedOut` says the call's own step timeout fired. */
export function classify(err: unknown, timedOut: boolean, stepTimeoutMs: number): Fault {
  if (timedOut)
    return {
      kind: 'transient',
      status: null,
      reason: `no answer within the step timeout of ${Math.round(stepTimeoutMs / 1000)} s`,
      retryAfterMs: null,
    };
  if (APICallError.isInstance(err)) {
    const status = err.statusCode ?? null;
    const said = providerMessage(err.responseBody);
    const reason = redact(
      (status === null ? err.message : `HTTP ${status}${said ? `: ${said}` : ''}`).slice(0, 300),
    );
    const transient = status === null || status >= 500 || TRANSIENT_STATUS.has(status);
    return {
      kind: transient ? 'transient' : 'permanent',
      status,
      reason,
      retryAfterMs: retryAfterMs(err.responseHeaders),
    };
  }
  return {
    kind: 'permanent',
    status: null,
    reason: redact(String((err as Error)?.message ?? err).slice(0, 300)),
    retryAfterMs: null,
  };
}

export interface RetryPolicy {
  /** Retries of one model call after a transient fault (429, 5xx, connection), beyond the first try. */
  retries: number;
  /** One model call's own timeout; a call that outlives it is retried once, then the session gives up. */
  stepTimeoutMs: number;
  /** The first backoff; it doubles per retry (with jitter) up to maxWaitMs, unless retry-after says otherwise. */
  baseDelayMs: number;
  /** The longest vt waits before a retry; a provider asking for more is treated as unavailable. */
  maxWaitMs: number;
  /** Progress lines for the session log. */
  log: (line: string) => void;
  /** The session's own end (its timeout or an abort): stops the waiting and the call. */
  signal: AbortSignal;
  random?: () => number;
}

export const DEFAULT_RETRY = { retries: 5, baseDelayMs: 1000, maxWaitMs: 300_000 } as const;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The model, with each call given its own timeout and retried on transient faults. A permanent fault,
 * or a transient one past the retry limit, throws ModelFault: the caller ends the session without
 * burning an attempt, so a person hears at once.
 */
export function resilientModel(model: LanguageModel, policy: RetryPolicy): LanguageModel {
  const middleware: LanguageModelMiddleware = {
    specificationVersion: 'v4',
    wrapGenerate: async ({ model: inner, params }) => {
      let timeouts = 0;
      for (let attempt = 1; ; attempt++) {
        const step = new AbortController();
        const timer = setTimeout(() => step.abort(new Error('step timeout')), policy.stepTimeoutMs);
        const signal = AbortSignal.any([
          policy.signal,
          step.signal,
          ...(params.abortSignal ? [params.abortSignal] : []),
        ]);
        try {
          return await inner.doGenerate({ ...params, abortSignal: signal });
        } catch (err) {
          if (policy.signal.aborted || params.abortSignal?.aborted) throw err;
          const timedOut = step.signal.aborted;
          const fault = classify(err, timedOut, policy.stepTimeoutMs);
          if (timedOut) timeouts++;
          const tries = `${attempt} ${attempt === 1 ? 'try' : 'tries'}`;
          if (fault.kind === 'permanent')
            throw new ModelFault(fault, attempt, `the model provider refused the request (${fault.reason})`);
          const backoff = Math.min(
            policy.maxWaitMs,
            policy.baseDelayMs * 2 ** (attempt - 1) * (0.8 + 0.4 * (policy.random ?? Math.random)()),
          );
          const wait = fault.retryAfterMs ?? backoff;
          const give =
            attempt > policy.retries
              ? `after ${tries}`
              : timeouts > 1
                ? `after ${timeouts} calls went unanswered`
                : wait > policy.maxWaitMs
                  ? `because it asked to wait ${Math.round(wait / 1000)} s`
                  : null;
          if (give)
            throw new ModelFault(
              fault,
              attempt,
              `the model provider is unavailable (${fault.reason}); vt gave up ${give}`,
            );
          policy.log(
            `[vt] model call failed (${fault.reason}): transient, retry ${attempt} of ${policy.retries} in ${(wait / 1000).toFixed(1)} s${fault.retryAfterMs !== null ? ' (retry-after)' : ''}\n`,
          );
          await sleep(wait, policy.signal);
        } finally {
          clearTimeout(timer);
        }
      }
    },
  };
  return wrapLanguageModel({ model: model as Parameters<typeof wrapLanguageModel>[0]['model'], middleware });
}
