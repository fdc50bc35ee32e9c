import type { CliAgentPreset } from '../../train/schema.ts';
import { isToolAllowed, MCP_TOOL_NAMES } from '../tools.ts';

/*
 * How vt drives each coding-agent CLI without a terminal: one table per CLI holding every flag,
 * environment variable and settings file vt gives it, and the CLI version that table was proven on
 * (test/agent-clis.test.ts runs that version against a scripted model server; scripts/agent-clis.sh
 * installs it). The prompt always goes on stdin or in a file, never in argv (argv is limited to a
 * few hundred kilobytes and shows in `ps`). The vt MCP server refuses a disallowed tool whatever the
 * CLI does; the CLI's own flags only keep the agent from trying.
 */

/** What a preset builds its command from. */
export interface PresetContext {
  /** The prompt file (also given on stdin to the CLIs that read it there). */
  promptFile: string;
  /** The session's private folder under .vt/sessions/ (histories and caches go here, not in the workspace). */
  sessionDir: string;
  /** The MCP configuration file ({"mcpServers": {"vt": {command, args, env}}}), mode 0600. */
  mcpConfig: string;
  /** An executable that starts `vt mcp` for this session (for CLIs that take a command, not a file). */
  mcpLauncher: string;
  workspace: string;
  model?: string | undefined;
  /** The mode's allowed_tools, or null for no limit. */
  allowed: readonly string[] | null;
  /** True when vt runs the CLI in its own sandbox (src/io/sandbox.ts), which a CLI's own cannot nest in. */
  sandboxed?: boolean;
}

export interface CliPreset {
  /** The command, looked up on PATH. */
  bin: string;
  /** Where the CLI comes from: `npm install -g <package>@<proven>`, or `pipx install <package>`. */
  package: string;
  installer: 'npm' | 'pip';
  /** The version this table was proven on; null when vt's CI cannot run the CLI. */
  proven: string | null;
  /** The prompt's way in: `stdin`, or a file named in argv. */
  prompt: 'stdin' | 'file';
  /** False for CLIs with no MCP client: they report through a JSON file in the workspace instead. */
  mcp: boolean;
  /** That report file, relative to the workspace (same shape as a command executor's report). */
  reportFile?: string;
  argv(ctx: PresetContext): string[];
  env?(ctx: PresetContext): Record<string, string>;
  /**
   * Settings the CLI reads only from the workspace, merged into what is there for the session and
   * put back after it: relative path -> JSON to merge.
   */
  workspaceSettings?(ctx: PresetContext): Record<string, Record<string, unknown>>;
  /** Why the CLI cannot work a phase under this mode, or null when it can. */
  cannot?(ctx: PresetContext): string | null;
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

/** Claude Code, proven on 2.1.197. */
const claude: CliPreset = {
  bin: 'claude',
  package: '@anthropic-ai/claude-code',
  installer: 'npm',
  proven: '2.1.197',
  prompt: 'stdin',
  mcp: true,
  argv: (c) => [
    'claude',
    '--print', // the prompt comes on stdin
    '--output-format',
    'json', // one result object with usage, modelUsage and total_cost_usd
    '--no-session-persistence',
    '--mcp-config',
    c.mcpConfig,
    '--strict-mcp-config', // only the vt server, none of the user's
    '--permission-mode',
    'dontAsk', // anything not allowed below is denied, never asked about
    '--allowedTools',
    claudeAllowedTools(c.allowed).join(','),
    ...model('--model', c.model),
  ],
  env: () => ({
    // In --print mode MCP servers connect in the background, so the first model request could go
    // out before `vt mcp` is up (it takes one to two seconds, more on a busy machine): wait for it,
    // and for longer than the 5 s Claude Code gives a blocking connection before it proceeds.
    MCP_CONNECTION_NONBLOCKING: 'false',
    MCP_CONNECT_TIMEOUT_MS: '60000',
    MCP_TIMEOUT: '60000',
    DISABLE_AUTOUPDATER: '1',
  }),
};

/** Codex CLI, proven on 0.171.0. */
const codex: CliPreset = {
  bin: 'codex',
  package: '@openai/codex',
  installer: 'npm',
  proven: '0.171.0',
  prompt: 'stdin',
  mcp: true,
  argv: (c) => [
    'codex',
    'exec',
    '--json', // JSONL events; turn.completed carries usage
    '--skip-git-repo-check',
    '--cd',
    c.workspace,
    '--sandbox',
    may(c.allowed, 'write_files') || may(c.allowed, 'run_commands')
      ? // Codex's sandbox is bubblewrap too, and cannot start inside vt's: vt's confines it instead.
        c.sandboxed
        ? 'danger-full-access'
        : 'workspace-write'
      : 'read-only',
    '-c',
    'approval_policy="never"',
    '-c',
    `mcp_servers.vt.command=${JSON.stringify(c.mcpLauncher)}`,
    // exec starts its first turn without waiting for MCP servers unless one is required.
    '-c',
    'mcp_servers.vt.required=true',
    '-c',
    'mcp_servers.vt.startup_timeout_sec=60',
    // With approval_policy never, a tool that is not read-only fails "requires approval" unless
    // the server's tools are approved up front; vt's server enforces the mode itself.
    '-c',
    'mcp_servers.vt.default_tools_approval_mode="approve"',
    ...model('--model', c.model),
    '-', // the prompt comes on stdin
  ],
};

/** Gemini CLI, proven on 0.61.0. */
const gemini: CliPreset = {
  bin: 'gemini',
  package: '@google/gemini-cli',
  installer: 'npm',
  proven: '0.61.0',
  prompt: 'stdin',
  mcp: true,
  argv: (c) => [
    'gemini', // headless when stdin is not a terminal: the prompt comes on stdin
    '--output-format',
    'json', // one document with stats.models.*.tokens
    '--allowed-mcp-server-names',
    'vt',
    '--approval-mode',
    may(c.allowed, 'run_commands') ? 'yolo' : may(c.allowed, 'write_files') ? 'auto_edit' : 'default',
    ...model('--model', c.model),
  ],
  // Headless runs in an untrusted folder exit 55, and an untrusted folder's settings are not read
  // (--skip-trust comes too late for them).
  env: () => ({ GEMINI_CLI_TRUST_WORKSPACE: 'true' }),
  // GEMINI_CLI_SYSTEM_SETTINGS_PATH is ignored unless the file and all its parents are root-owned and
  // not group- or world-writable, so the server goes in the workspace's settings, for the session only.
  workspaceSettings: (c) => ({
    '.gemini/settings.json': {
      mcpServers: { vt: { command: c.mcpLauncher, args: [], trust: true, timeout: 600_000 } },
    },
  }),
};

/**
 * Aider (read from its source, aider 0.86; not run in vt's CI): `--message-file`, no MCP client, so
 * it writes vt-report.json. It reports by writing a file, so it cannot work a phase whose mode does
 * not allow writing files (`--dry-run` would stop the report too).
 */
const aider: CliPreset = {
  bin: 'aider',
  package: 'aider-chat',
  installer: 'pip',
  proven: null,
  prompt: 'file',
  mcp: false,
  reportFile: 'vt-report.json',
  argv: (c) => [
    'aider',
    '--message-file',
    c.promptFile,
    '--yes-always',
    '--no-auto-commits', // vt commits the session's work
    '--no-gitignore', // or it adds .aider* to the workspace's .gitignore
    '--chat-history-file',
    `${c.sessionDir}/aider.chat.history.md`,
    '--input-history-file',
    `${c.sessionDir}/aider.input.history`,
    '--no-stream',
    '--no-pretty',
    '--no-fancy-input',
    '--no-check-update',
    '--no-show-release-notes',
    '--no-show-model-warnings',
    '--analytics-disable',
    ...(may(c.allowed, 'run_commands') ? [] : ['--no-suggest-shell-commands']),
    ...model('--model', c.model),
  ],
  cannot: (c) =>
    may(c.allowed, 'write_files')
      ? null
      : "the aider preset reports by writing vt-report.json, and this phase's mode does not allow writing files",
};

/** Every preset, by name: the flags of each CLI in one place. */
export const PRESETS: Readonly<Record<CliAgentPreset, CliPreset>> = { claude, codex, gemini, aider };
