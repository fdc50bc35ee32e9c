import { VtError } from '../../errors.ts';
import type { Db } from '../../store/store.ts';

/** USD per million tokens. */
export interface Price {
  input: number;
  output: number;
}

/**
 * List prices (USD per million input/output tokens) of common models, matched by the longest prefix
 * of the model id (so dated ids like claude-sonnet-4-20250514 find claude-sonnet-4). Prices change:
 * override them with the executor's `price:` or VT_LLM_PRICES. A model not listed costs nothing as far
 * as vt knows (local models), and its spend does not count against budget caps.
 */
export const PRICE_TABLE: Readonly<Record<string, Price>> = {
  'claude-opus-4': { input: 15, output: 75 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-3-5-sonnet': { input: 3, output: 15 },
  'claude-haiku-4': { input: 1, output: 5 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  o3: { input: 2, output: 8 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'gemini-2.5-pro': { input: 1.25, output: 10 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5 },
};

/** The price of a model: the executor's own, then VT_LLM_PRICES (JSON: model -> {input, output}), then the table. */
export function priceOf(
  model: string | undefined,
  own: Price | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Price | null {
  if (own) return own;
  if (!model) return null;
  const table: Record<string, Price> = { ...PRICE_TABLE, ...envPrices(env) };
  if (table[model]) return table[model];
  const prefix = Object.keys(table)
    .filter((k) => model.startsWith(k))
    .sort((a, b) => b.length - a.length)[0];
  return prefix ? table[prefix]! : null;
}

function envPrices(env: NodeJS.ProcessEnv): Record<string, Price> {
  const text = env.VT_LLM_PRICES;
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as Record<string, Price>;
    for (const [k, p] of Object.entries(parsed))
      if (!(Number.isFinite(p?.input) && Number.isFinite(p?.output)))
        throw new Error(`${k} needs numeric input and output prices`);
    return parsed;
  } catch (err) {
    throw new VtError('BAD_INPUT', `VT_LLM_PRICES is not usable: ${(err as Error).message}`, {
      hint: 'VT_LLM_PRICES=\'{"my-model": {"input": 3, "output": 15}}\' (USD per million tokens)',
    });
  }
}

/** What tokens cost at a price, in USD (rounded to a millionth of a cent). */
export function costOf(tokensIn: number, tokensOut: number, price: Price): number {
  return Math.round(((tokensIn * price.input + tokensOut * price.output) / 1e6) * 1e8) / 1e8;
}

export interface BudgetCaps {
  ticket: number | null;
  project: number | null;
}

/** Caps in USD: VT_BUDGET_TICKET_USD and VT_BUDGET_PROJECT_USD win over the executor's `budget:`. */
export function budgetCaps(
  own: { ticket?: number | undefined; project?: number | undefined } | undefined,
  env: NodeJS.ProcessEnv = process.env,
): BudgetCaps {
  const read = (name: string, fallback: number | undefined) => {
    const text = env[name];
    if (text === undefined || text === '') return fallback ?? null;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0)
      throw new VtError('BAD_INPUT', `${name} must be a non-negative number of USD, not "${text}"`);
    return n;
  };
  return {
    ticket: read('VT_BUDGET_TICKET_USD', own?.ticket),
    project: read('VT_BUDGET_PROJECT_USD', own?.project),
  };
}

/** What the project's sessions, and the ticket's, have cost so far (as recorded on session.ended). */
export async function spentSoFar(
  db: Db,
  projectId: string,
  ticket: string,
): Promise<{ ticket: number; project: number }> {
  const sum = async (column: 'project_id' | 'ticket', value: string) => {
    const row = await db
      .selectFrom('sessions')
      .select((eb) => eb.fn.sum<number | null>('cost').as('spent'))
      .where(column, '=', value)
      .executeTakeFirst();
    return Number(row?.spent ?? 0);
  };
  return { ticket: await sum('ticket', ticket), project: await sum('project_id', projectId) };
}

/** The tighter of the two caps, less what was spent; null when neither cap is set. */
export function remainingBudget(
  caps: BudgetCaps,
  spent: { ticket: number; project: number },
): { usd: number; which: 'ticket' | 'project'; cap: number } | null {
  const left = [
    caps.ticket === null
      ? null
      : { usd: caps.ticket - spent.ticket, which: 'ticket' as const, cap: caps.ticket },
    caps.project === null
      ? null
      : { usd: caps.project - spent.project, which: 'project' as const, cap: caps.project },
  ].filter((x) => x !== null);
  return left.sort((a, b) => a.usd - b.usd)[0] ?? null;
}
