import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineIo } from '../engine/engine.ts';
import { VtError } from '../errors.ts';
import type { CommandOutcome, FileObservation } from '../gates/types.ts';
import { redact, stripControl } from '../redact.ts';
import type { SandboxMode } from '../types.ts';
import { checkoutCopy, readCommitted, repoOf, snapshot } from './git.ts';
import { nodeHttp } from './http.ts';
import { resolveInside } from './paths.ts';
import { childEnv, runProcess } from './process.ts';
import { onPath, planSandbox } from './sandbox.ts';

async function hashFile(abs: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(abs)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

const PREVIEW_CHARS = 240;

/** The start of a text file, redacted, for handoff packets; null for binary files. */
async function textPreview(abs: string): Promise<string | null> {
  const fh = await open(abs, 'r');
  try {
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const bytes = buf.subarray(0, bytesRead);
    if (bytes.includes(0)) return null;
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/\uFFFD+$/, '');
    if (text.includes('\uFFFD')) return null;
    return redact(stripControl(text)).replace(/\s+/g, ' ').trim().slice(0, PREVIEW_CHARS);
  } finally {
    await fh.close();
  }
}

/**
 * Run a gate's command: its exit code and a redacted tail of its output are the evidence. In a
 * sandbox it sees the system, its checkout and a throwaway home, not the live project folder or the store.
 */
export async function runCommand(
  argv: readonly string[],
  cwd: string,
  timeoutMs: number,
  env: Record<string, string>,
  opts: { sandbox?: SandboxMode | undefined; project?: string } = {},
): Promise<CommandOutcome> {
  // A gate's command sees nothing of vt's environment but PATH and locale, and a throwaway home.
  const home = await mkdtemp(join(tmpdir(), 'vt-gate-'));
  try {
    const childenv = childEnv({ HOME: home, TMPDIR: home, ...env }, { scrubbed: true });
    const program = argv[0]!;
    const plan = planSandbox({
      mode: opts.sandbox,
      what: `the command gate ${argv.join(' ')}`.slice(0, 200),
      program,
      path: childenv.PATH ?? '',
      cwd,
      writable: [cwd, home],
      hidden: opts.project ? [opts.project] : [],
    });
    const cannot = (problem: string): CommandOutcome => ({
      exitCode: null,
      timedOut: false,
      durationMs: 0,
      outputTail: '',
      problem,
    });
    if ('refused' in plan) return cannot(plan.refused);
    if (plan.wrap && !onPath(program, childenv.PATH)) return cannot(`${program} not found`);
    const end = await runProcess({ argv, cwd, env: childenv, timeoutMs, sandbox: plan.wrap });
    return {
      exitCode: end.timedOut || end.spawnError ? null : end.exitCode,
      timedOut: end.timedOut,
      durationMs: end.durationMs,
      outputTail: end.tail,
      ...(end.spawnError ? { problem: end.spawnError.message } : {}),
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** The engine's I/O on this machine's file system and processes. */
export const nodeIo: EngineIo = {
  async hashArtifact(workspace, path) {
    const { abs, rel } = await resolveInside(workspace, path);
    return { path: rel, ...(await hashFile(abs)), preview: await textPreview(abs) };
  },
  async observeFile(workspace, path, opts): Promise<FileObservation> {
    try {
      const { abs } = await resolveInside(workspace, path);
      if (!opts.wantText) return { ok: true, ...(await hashFile(abs)) };
      const bytes = await readFile(abs);
      return {
        ok: true,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        text: bytes.toString('utf8'),
      };
    } catch (err) {
      if (err instanceof VtError) return { ok: false, problem: err.message };
      return { ok: false, problem: (err as Error).message };
    }
  },
  runCommand: (argv, cwd, timeoutMs, env, opts) => runCommand(argv, cwd, timeoutMs, env, opts),
  async readCommitted(workspace, commit, path, opts) {
    return readCommitted(await repoOf(workspace), commit, path, opts.wantText);
  },
  async checkout(workspace, commit) {
    return checkoutCopy(await repoOf(workspace), commit);
  },
  async snapshot(projectWorkspace, folder, force) {
    return snapshot(await repoOf(projectWorkspace), folder, force, `vt: the work in ${folder}`);
  },
  http: nodeHttp(),
};
