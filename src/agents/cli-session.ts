import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { type SandboxPlace, sandboxes } from '../io/sandbox.ts';
import { VT_JS } from '../package.ts';
import type { ExecutorSpec } from '../train/schema.ts';
import { findOnPath, runCliAgent } from './executors/cli-agent.ts';
import { type CliPreset, PRESETS, type PresetContext } from './executors/presets.ts';
import { priceOf } from './executors/pricing.ts';
import type { ExecutorResult } from './types.ts';

/*
 * One cli-agent session: the prompt file, the session's MCP configuration and launcher (both holding
 * the session's socket and token, both removed when it ends), the settings a CLI reads only from the workspace
 * (put back as they were after the session), and the CLI run itself.
 */

type CliSpec = Extract<ExecutorSpec, { kind: 'cli-agent' }>;

export interface CliSessionContext {
  root: string;
  /** The socket the worker serves the session's tools on, and its token: all `vt mcp` gets. */
  host: { socket: string; token: string };
  onStart?: (pgid: number) => void;
  session: string;
  workspace: string;
  handoff: string;
  logFile: string;
  reportFile: string;
  env: Record<string, string>;
  processEnv: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  allowed: readonly string[] | null;
  /** The whole prompt (framing, ticket and handoff). */
  prompt: string;
  /** The sandbox the CLI runs in (see src/io/sandbox.ts). */
  sandbox?: SandboxPlace | undefined;
}

/** The report file a preset without MCP writes, if any (the prompt tells the agent about it). */
export const reportFileOf = (spec: CliSpec) => (spec.preset ? PRESETS[spec.preset].reportFile : undefined);

export async function runCliSession(spec: CliSpec, ctx: CliSessionContext): Promise<ExecutorResult> {
  const dir = join(ctx.root, '.vt', 'sessions', ctx.session);
  mkdirSync(dir, { recursive: true });
  const preset = spec.preset ? PRESETS[spec.preset] : null;
  const files = { prompt: join(dir, 'prompt.md'), mcp: join(dir, 'mcp.json'), launcher: join(dir, 'vt-mcp') };
  writeFileSync(files.prompt, ctx.prompt);
  const pctx: PresetContext = {
    promptFile: files.prompt,
    sessionDir: dir,
    mcpConfig: files.mcp,
    mcpLauncher: files.launcher,
    workspace: ctx.workspace,
    model: spec.model,
    allowed: ctx.allowed,
    sandboxed: !!ctx.sandbox && sandboxes(ctx.sandbox.mode),
  };
  const label = preset ? `the ${spec.preset} preset` : 'the cli-agent command';
  const cannot = preset?.cannot?.(pctx);
  if (cannot) return { outcome: 'unavailable', exitCode: null, message: cannot };
  const argv = preset ? [...preset.argv(pctx), ...spec.args] : expandTemplate(spec.run!, ctx, files);
  const path = ctx.env.PATH ?? ctx.processEnv.PATH;
  if (!findOnPath(argv[0]!, path))
    return {
      outcome: 'unavailable',
      exitCode: null,
      message: `${label} needs the \`${argv[0]}\` command, which is not on PATH on this machine`,
    };

  let restore: () => void = () => {};
  try {
    const serverEnv: Record<string, string> = {
      VT_SESSION_SOCKET: ctx.host.socket,
      VT_SESSION_TOKEN: ctx.host.token,
    };
    // The token is a secret: files only the owner can read, removed when the session ends.
    for (const f of [files.mcp, files.launcher]) rmSync(f, { force: true });
    // alwaysLoad: Claude Code offers the server's tools up front rather than behind a tool search.
    const server = { command: process.execPath, args: [VT_JS, 'mcp'], env: serverEnv, alwaysLoad: true };
    writeFileSync(files.mcp, `${JSON.stringify({ mcpServers: { vt: server } }, null, 2)}\n`, { mode: 0o600 });
    const sh = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
    writeFileSync(
      files.launcher,
      `#!/bin/sh\n${Object.entries(serverEnv)
        .map(([k, v]) => `export ${k}=${sh(v)}`)
        .join('\n')}\nexec ${sh(process.execPath)} ${sh(VT_JS)} mcp\n`,
      { mode: 0o700 },
    );
    if (preset?.workspaceSettings) restore = overlaySettings(ctx.workspace, preset.workspaceSettings(pctx));
    const result = await runCliAgent({
      argv,
      cwd: ctx.workspace,
      env: { ...ctx.env, ...(preset?.env?.(pctx) ?? {}) },
      // The prompt never goes in argv (its size is limited there, and argv shows in `ps`).
      input: !preset || preset.prompt === 'stdin' ? ctx.prompt : '',
      timeoutMs: spec.timeout_s * 1000,
      logFile: ctx.logFile,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(ctx.onStart ? { onStart: ctx.onStart } : {}),
      sandbox: ctx.sandbox,
      label,
      price: priceOf(spec.model, undefined, ctx.processEnv),
      ...(preset ? { versionNote: versionNote(preset) } : {}),
    });
    // An agent without MCP reports in a file: hand it to the worker, and keep it out of the work.
    const written = preset?.reportFile ? join(ctx.workspace, preset.reportFile) : null;
    if (written && existsSync(written)) renameSync(written, ctx.reportFile);
    return result;
  } finally {
    restore();
    for (const f of [files.mcp, files.launcher]) rmSync(f, { force: true });
  }
}

/** A transcript line naming the CLI version the preset was proven on, checked against the installed one. */
function versionNote(preset: CliPreset): (installed: string | null) => string {
  return (installed) =>
    preset.proven === null
      ? `[vt] ${preset.bin} ${installed ?? '(version unknown)'}: this preset is not proven on any version`
      : installed === preset.proven
        ? `[vt] ${preset.bin} ${installed}: the version this preset was proven on`
        : `[vt] ${preset.bin} ${installed ?? '(version unknown)'}: this preset was proven on ${preset.proven}; see vt agents check`;
}

/** Placeholders of a generic template: {node} {root} {workspace} {prompt_file} {mcp_config} {session}. */
function expandTemplate(
  run: readonly string[],
  ctx: CliSessionContext,
  files: { prompt: string; mcp: string },
): string[] {
  const vars: Record<string, string> = {
    node: process.execPath,
    root: ctx.root,
    workspace: ctx.workspace,
    prompt_file: files.prompt,
    mcp_config: files.mcp,
    session: ctx.session,
  };
  return run.map((a) =>
    a.replace(/\{(node|root|workspace|prompt_file|mcp_config|session)\}/g, (_, k: string) => vars[k]!),
  );
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const merge = (a: Json, b: Json): Json =>
  Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [
      k,
      isObject(a[k]) && isObject(b[k]) ? merge(a[k], b[k]) : k in b ? b[k] : a[k],
    ]),
  );

/**
 * Merge settings into JSON files of the workspace for one session; returns what puts every file back
 * exactly as it was (or removes it, and any folder made for it). A file that is not a JSON object is
 * left alone: the CLI then runs without the settings and the session shows why.
 */
export function overlaySettings(workspace: string, settings: Record<string, Json>): () => void {
  const undo: (() => void)[] = [];
  for (const [rel, add] of Object.entries(settings)) {
    const file = join(workspace, rel);
    const before = existsSync(file) ? readFileSync(file) : null;
    let current: Json = {};
    if (before) {
      try {
        const parsed = JSON.parse(before.toString('utf8')) as unknown;
        if (!isObject(parsed)) continue;
        current = parsed;
      } catch {
        continue;
      }
    }
    const made = !existsSync(dirname(file));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(merge(current, add), null, 2)}\n`);
    undo.push(() => {
      // The agent may have swapped the file or its folder for a link out of the workspace: vt runs
      // this outside any sandbox, so it never writes through one.
      if (!insideWorkspace(workspace, dirname(file))) return;
      try {
        rmSync(file, { force: true });
        if (before) writeFileSync(file, before, { flag: 'wx' });
        else if (made) rmSync(dirname(file), { recursive: true, force: true });
      } catch {
        // left as the agent made it (a folder in the file's place, say)
      }
    });
  }
  return () => {
    for (const u of undo.reverse()) u();
  };
}

/** True when `dir` resolves (links followed) to the workspace or a folder below it. */
function insideWorkspace(workspace: string, dir: string): boolean {
  try {
    const rel = relative(realpathSync(workspace), realpathSync(dir));
    return !rel.startsWith('..') && !isAbsolute(rel);
  } catch {
    return false;
  }
}
