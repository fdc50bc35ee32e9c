import type { CliAgentPreset } from '../../train/schema.ts';
import { isToolAllowed, MCP_TOOL_NAMES } from '../tools.ts';

/*
 * How vt drives each coding-agent CLI without a terminal: its documented non-interactive flags, how
 * it is given the `vt mcp` server, how the phase's allowed_tools become its own permissions, and
 * where it prints token and cost figures. The vt MCP server refuses a disallowed tool whatever the
 * CLI does; the CLI flags only keep the agent from trying.
 */

/** What a preset builds its command from. */
export interface PresetContext {
  prompt: string;
  promptFile: string;
  /** The MCP configuration file ({"mcpServers": {"vt": {command, args, env}}}). */
  mcpConfig: string;
  /** An executable that starts `vt mcp` for this session (for CLIs that take a command, not a file). */
  mcpLauncher: string;
  workspace: string;
  model?: string | undefined;
  /** The mode's allowed_tools, or null for no limit. */
  allowed: readonly string[] | null;
}

export interface CliPreset {
  argv(ctx: PresetContext): string[];
  env?(ctx: PresetContext): Record<string, string>;
  /** False for CLIs with no MCP client: they report through a JSON file in the workspace instead. */
  mcp: boolean;
  /** That report file, relative to the workspace (same shape as a command executor's report). */
  reportFile?: string;
}

const may = (allowed: readonly string[] | null, word: string) => allowed === null || allowed.includes(word);

/** Claude Code's own tool names for the words modes use. */
const CLAUDE_TOOLS: Record<string, string[]> = {
  read_files: ['Read', 'Glob', 'Grep', 'LS'],
  write_files: ['Edit', 'MultiEdit', 'Write'],
  run_commands: ['Bash'],
  web_search: ['WebSearch', 'WebFetch'],
};

export function claudeAllowedTools(allowed: readonly string[] | null): string[] {
  const own = Object.entries(CLAUDE_TOOLS).flatMap(([word, tools]) => (may(allowed, word) ? tools : []));
  const vt = MCP_TOOL_NAMES.filter((t) => isToolAllowed(t, allowed)).map((t) => `mcp__vt__${t}`);
  return [...own, ...vt];
}

const model = (flag: string, m: string | undefined) => (m ? [flag, m] : []);

export const PRESETS: Readonly<Record<CliAgentPreset, CliPreset>> = {
  /** Claude Code: `claude -p` with a strict MCP config, an allow-list of tools, JSON result with usage and cost. */
  claude: {
    mcp: true,
    argv: (c) => [
      'claude',
      '-p',
      c.prompt,
      '--output-format',
      'json',
      '--mcp-config',
      c.mcpConfig,
      '--strict-mcp-config',
      '--allowedTools',
      claudeAllowedTools(c.allowed).join(','),
      ...model('--model', c.model),
    ],
  },
  /** Codex CLI: `codex exec --json`, the vt server as a -c override, a sandbox matching the mode. */
  codex: {
    mcp: true,
    argv: (c) => [
      'codex',
      'exec',
      '--json',
      '--skip-git-repo-check',
      '--cd',
      c.workspace,
      '--sandbox',
      may(c.allowed, 'write_files') || may(c.allowed, 'run_commands') ? 'workspace-write' : 'read-only',
      '-c',
      `mcp_servers.vt.command=${JSON.stringify(c.mcpLauncher)}`,
      ...model('--model', c.model),
      c.prompt,
    ],
  },
  /** Gemini CLI: `gemini -p` headless, JSON output with stats; MCP servers from a settings file. */
  gemini: {
    mcp: true,
    argv: (c) => [
      'gemini',
      '-p',
      c.prompt,
      '--output-format',
      'json',
      '--allowed-mcp-server-names',
      'vt',
      '--approval-mode',
      may(c.allowed, 'run_commands') ? 'yolo' : may(c.allowed, 'write_files') ? 'auto_edit' : 'default',
      ...model('--model', c.model),
    ],
    // The settings file Gemini CLI reads for system-wide settings: ours holds only the vt server.
    env: (c) => ({ GEMINI_CLI_SYSTEM_SETTINGS_PATH: c.mcpConfig }),
  },
  /** Aider: `aider --message-file`, no MCP client, so it writes vt-report.json; prints tokens and cost. */
  aider: {
    mcp: false,
    reportFile: 'vt-report.json',
    argv: (c) => [
      'aider',
      '--message-file',
      c.promptFile,
      '--yes-always',
      '--no-auto-commits',
      '--no-stream',
      '--no-pretty',
      '--no-check-update',
      ...(may(c.allowed, 'write_files') ? [] : ['--dry-run']),
      ...model('--model', c.model),
    ],
  },
};

export interface AgentUsage {
  tokensIn: number | null;
  tokensOut: number | null;
  /** USD, when the CLI reports it. */
  cost: number | null;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const add = (a: number | null, b: number | null) => (a === null && b === null ? null : (a ?? 0) + (b ?? 0));

/** "2.3k" -> 2300, as aider prints token counts. */
const count = (s: string) => {
  const m = /^([\d.]+)([km]?)$/i.exec(s.replace(/,/g, ''));
  if (!m) return null;
  return Math.round(
    Number(m[1]) * (m[2]?.toLowerCase() === 'k' ? 1e3 : m[2]?.toLowerCase() === 'm' ? 1e6 : 1),
  );
};

/**
 * Token and cost figures from a CLI's transcript, in any of the formats the presets produce: Claude
 * Code's JSON result (usage, total_cost_usd), Codex's turn.completed lines, Gemini CLI's stats, and
 * aider's "Tokens: … sent, … received. Cost: $… session" lines. The last figures win where a CLI
 * prints running totals; Codex turns are added up. Null when nothing was found.
 */
export function parseUsage(transcript: string): AgentUsage | null {
  // Held in an object: TypeScript narrows a `let` initialised to null to never inside the loop.
  const acc: { found: AgentUsage | null; codex: AgentUsage | null } = { found: null, codex: null };
  const objects: unknown[] = [];
  for (const line of transcript.split('\n')) {
    const t = line.trim();
    if (t.startsWith('{') && t.endsWith('}')) {
      try {
        objects.push(JSON.parse(t));
      } catch {
        // not JSON after all
      }
    }
    const aider =
      /Tokens: ([\d.,]+[km]?) sent, ([\d.,]+[km]?) received\.(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?/i.exec(
        t,
      );
    if (aider) {
      const prev = acc.found;
      acc.found = {
        tokensIn: add(prev?.tokensIn ?? null, count(aider[1]!)),
        tokensOut: add(prev?.tokensOut ?? null, count(aider[2]!)),
        cost: aider[4] ? Number(aider[4]) : (prev?.cost ?? null),
      };
    }
  }
  // A pretty-printed JSON document (Gemini CLI's --output-format json) spans lines.
  const start = transcript.indexOf('\n{');
  if (start >= 0) {
    const end = transcript.lastIndexOf('\n}');
    if (end > start) {
      try {
        objects.push(JSON.parse(transcript.slice(start + 1, end + 2)));
      } catch {
        // not one document
      }
    }
  }
  for (const o of objects) {
    const r = o as Record<string, unknown>;
    const usage = r.usage as Record<string, unknown> | undefined;
    if (r.type === 'turn.completed' && usage) {
      const prev = acc.codex;
      acc.codex = {
        tokensIn: add(prev?.tokensIn ?? null, num(usage.input_tokens)),
        tokensOut: add(prev?.tokensOut ?? null, num(usage.output_tokens)),
        cost: null,
      };
    } else if (usage && ('total_cost_usd' in r || r.type === 'result')) {
      const tokensIn = add(
        add(num(usage.input_tokens), num(usage.cache_creation_input_tokens)),
        num(usage.cache_read_input_tokens),
      );
      acc.found = { tokensIn, tokensOut: num(usage.output_tokens), cost: num(r.total_cost_usd) };
    } else if (r.stats && typeof r.stats === 'object') {
      const models =
        (r.stats as { models?: Record<string, { tokens?: Record<string, unknown> }> }).models ?? {};
      let tokensIn: number | null = null;
      let tokensOut: number | null = null;
      for (const m of Object.values(models)) {
        tokensIn = add(tokensIn, num(m.tokens?.prompt));
        tokensOut = add(tokensOut, num(m.tokens?.candidates));
      }
      if (tokensIn !== null || tokensOut !== null) acc.found = { tokensIn, tokensOut, cost: null };
    }
  }
  return acc.codex ?? acc.found;
}
