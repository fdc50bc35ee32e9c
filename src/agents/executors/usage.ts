/** Token and cost figures a coding-agent CLI printed for one session. */
export interface AgentUsage {
  tokensIn: number | null;
  tokensOut: number | null;
  /** USD, when the CLI reports it. */
  cost: number | null;
}

type Obj = Record<string, unknown>;
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const add = (a: number | null, b: number | null) => (a === null && b === null ? null : (a ?? 0) + (b ?? 0));

/** "2.3k" -> 2300, "12k" -> 12000, as aider's format_tokens prints counts. */
const count = (s: string | undefined) => {
  if (s === undefined) return null;
  const m = /^([\d.]+)([km]?)$/i.exec(s.replace(/,/g, ''));
  if (!m) return null;
  const unit = m[2]?.toLowerCase();
  return Math.round(Number(m[1]) * (unit === 'k' ? 1e3 : unit === 'm' ? 1e6 : 1));
};

/**
 * Aider prints one usage line per message (aider/coders/base_coder.py, calculate_and_show_tokens_and_cost):
 *   Tokens: 2.3k sent, 120 received. Cost: $0.01 message, $0.02 session.
 *   Tokens: 2.3k sent, 1.1k cache write, 5.0k cache hit, 120 received.
 *   Cost: $0.01 message, $0.02 session.          (on its own line when both cache figures show)
 * "sent" already holds cache writes but not cache hits, so tokens in = sent + cache hit. The cost
 * line is absent for models aider has no price for.
 */
const AIDER_TOKENS =
  /Tokens: ([\d.,]+[km]?) sent(?:, ([\d.,]+[km]?) cache write)?(?:, ([\d.,]+[km]?) cache hit)?, ([\d.,]+[km]?) received\./i;
const AIDER_COST = /Cost: \$([\d.]+) message, \$([\d.]+) session\./i;

function aiderUsage(lines: string[]): AgentUsage | null {
  let found = null as AgentUsage | null;
  for (const line of lines) {
    const t = AIDER_TOKENS.exec(line);
    if (t)
      found = {
        tokensIn: add(found?.tokensIn ?? null, add(count(t[1]), count(t[3]))),
        tokensOut: add(found?.tokensOut ?? null, count(t[4])),
        cost: found?.cost ?? null,
      };
    const c = AIDER_COST.exec(line);
    if (c && found) found.cost = Number(c[2]); // the session's running total
  }
  return found;
}

/** Claude Code's result object: modelUsage covers every model call (the main loop and side calls). */
function claudeUsage(r: Obj): AgentUsage | null {
  const models = r.modelUsage as Record<string, Obj> | undefined;
  if (models && Object.keys(models).length) {
    let tokensIn: number | null = null;
    let tokensOut: number | null = null;
    for (const m of Object.values(models)) {
      tokensIn = add(
        tokensIn,
        add(add(num(m.inputTokens), num(m.cacheReadInputTokens)), num(m.cacheCreationInputTokens)),
      );
      tokensOut = add(tokensOut, num(m.outputTokens));
    }
    return { tokensIn, tokensOut, cost: num(r.total_cost_usd) };
  }
  const usage = r.usage as Obj;
  return {
    tokensIn: add(
      add(num(usage.input_tokens), num(usage.cache_creation_input_tokens)),
      num(usage.cache_read_input_tokens),
    ),
    tokensOut: num(usage.output_tokens),
    cost: num(r.total_cost_usd),
  };
}

/** Gemini CLI's stats: prompt tokens (cached ones included) and candidates, per model. */
function geminiUsage(stats: Obj): AgentUsage | null {
  const models = (stats.models ?? {}) as Record<string, { tokens?: Obj }>;
  let tokensIn: number | null = null;
  let tokensOut: number | null = null;
  for (const m of Object.values(models)) {
    tokensIn = add(tokensIn, num(m.tokens?.prompt) ?? num(m.tokens?.input));
    tokensOut = add(tokensOut, num(m.tokens?.candidates));
  }
  return tokensIn === null && tokensOut === null ? null : { tokensIn, tokensOut, cost: null };
}

/**
 * Token and cost figures from a CLI's transcript, in the formats the presets produce: Claude Code's
 * JSON result, Codex's turn.completed lines (summed; input_tokens already holds cached ones), Gemini
 * CLI's JSON document with stats, and aider's usage lines. Null when nothing was found.
 */
export function parseUsage(transcript: string): AgentUsage | null {
  const lines = transcript.split('\n');
  const objects: Obj[] = [];
  for (const line of lines) {
    const t = line.trim();
    if (t.startsWith('{') && t.endsWith('}')) {
      try {
        objects.push(JSON.parse(t) as Obj);
      } catch {
        // not JSON after all
      }
    }
  }
  // A pretty-printed JSON document (Gemini CLI's --output-format json) spans lines.
  const start = transcript.search(/^\{/m);
  const end = transcript.lastIndexOf('\n}');
  if (start >= 0 && end > start) {
    try {
      objects.push(JSON.parse(transcript.slice(start, end + 2)) as Obj);
    } catch {
      // not one document
    }
  }
  let codex = null as AgentUsage | null;
  let found = null as AgentUsage | null;
  for (const r of objects) {
    const usage = r.usage as Obj | undefined;
    if (r.type === 'turn.completed' && usage)
      codex = {
        tokensIn: add(codex?.tokensIn ?? null, num(usage.input_tokens)),
        tokensOut: add(codex?.tokensOut ?? null, num(usage.output_tokens)),
        cost: null,
      };
    else if ((usage || r.modelUsage) && ('total_cost_usd' in r || r.type === 'result'))
      found = claudeUsage(r) ?? found;
    else if (r.stats && typeof r.stats === 'object') found = geminiUsage(r.stats as Obj) ?? found;
  }
  return codex ?? found ?? aiderUsage(lines);
}
