/**
 * The documentation runs as written. For README.md and every docs/*.md:
 *
 * - Each fenced block marked ```sh (or bash, shell) is run, in the order the file gives, in a scratch
 *   folder of its own per file (empty at the start; `vt` is on PATH and runs this checkout).
 * - Each line is one command, run with bash. Only lines that run vt are executed — the first word
 *   (after VAR=value assignments) is `vt`, `./vt` or `../vt` (both mean `vt`) — plus `cd DIR`, which
 *   moves the rest of the block's commands into DIR (each block starts in the scratch folder), and these helpers for setting files up: mkdir,
 *   cp, mv, rm, touch, echo, printf, cat, export. Anything else (`npm test`, `node bench/…`) is not run.
 * - A command must exit 0, unless its comment says which code it exits with: `# exit 1 when a gate
 *   fails`. Any comment containing "exit N" sets the expected code.
 * - `<!-- docs-test: skip REASON -->` on the line before a block skips it (say why: "needs a
 *   PostgreSQL server", "installs globally").
 * - `<!-- docs-test: setup` … `-->` holds commands run (by the same rules) before the next block, for
 *   state a page assumes but does not show (a project part-way through the train).
 * - `<!-- docs-test: postgres -->` runs the next block (and its setup) on a new, empty database of
 *   the test server (test/pg.ts): VT_DATABASE_URL names it, and so does every `postgres://…` URL in
 *   its commands, whatever host and role the page shows.
 * - A ```yaml block with a top-level `phases:` is a whole train: it must pass `vt lint`.
 *
 * VT_DOCS_TEST_ONLY=docs/train.md runs one file. Commands time out after 3 minutes each.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, tempDir, VT_BIN } from './helpers.ts';
import { dropTestDatabases, freshPgUrl } from './pg.ts';

interface Step {
  line: number;
  command: string;
  expect: number;
}
interface Block {
  line: number;
  kind: 'sh' | 'train';
  skip: string | null;
  /** Run on a fresh PostgreSQL database. */
  postgres: boolean;
  steps: Step[];
  text: string;
}

const HELPERS = new Set(['cd', 'mkdir', 'cp', 'mv', 'rm', 'touch', 'echo', 'printf', 'cat', 'export']);

/** Split off a trailing `# comment` that is not inside quotes. */
function splitComment(line: string): [string, string] {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!)))
      return [line.slice(0, i).trimEnd(), line.slice(i + 1)];
  }
  return [line, ''];
}

function toStep(raw: string, line: number): Step | null {
  const [cmd, comment] = splitComment(raw.trim());
  if (!cmd) return null;
  const first = cmd.replace(/^(\w+=\S*\s+)+/, '').split(/\s+/)[0]!;
  const runsVt = ['vt', './vt', '../vt'].includes(first);
  if (!runsVt && !HELPERS.has(first)) return null;
  const command = cmd.replace(/(^|[\s;&|(])\.{1,2}\/vt(?=\s|$)/g, '$1vt');
  const exit = /\bexits? (\d+)\b/.exec(comment);
  return { line, command, expect: exit ? Number(exit[1]) : 0 };
}

/** The runnable blocks of a markdown file, with their directives. */
export function extractBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let skip: string | null = null;
  let postgres = false;
  let setup: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const directive = /^<!--\s*docs-test:\s*(skip|setup|postgres)\b\s*(.*?)\s*(-->)?\s*$/.exec(l);
    if (directive) {
      if (directive[1] === 'skip') skip = directive[2] || 'skipped';
      else if (directive[1] === 'postgres') postgres = true;
      else {
        // setup: the commands on the following lines, up to -->
        for (i++; i < lines.length && !lines[i]!.includes('-->'); i++) {
          const s = toStep(lines[i]!, i + 1);
          if (s) setup.push(s);
        }
      }
      continue;
    }
    const fence = /^```(\w+)?\s*$/.exec(l);
    if (!fence) continue;
    const lang = fence[1] ?? '';
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    const text = body.join('\n');
    if (['sh', 'bash', 'shell'].includes(lang)) {
      const steps = [...setup];
      body.forEach((b, k) => {
        const s = toStep(b, start + k + 1);
        if (s) steps.push(s);
      });
      blocks.push({ line: start, kind: 'sh', skip, postgres, steps, text });
    } else if (['yaml', 'yml'].includes(lang) && /^phases:/m.test(text)) {
      blocks.push({ line: start, kind: 'train', skip, postgres, steps: [], text });
    } else if (setup.length) {
      blocks.push({ line: start, kind: 'sh', skip, postgres, steps: setup, text: '' });
    }
    skip = null;
    postgres = false;
    setup = [];
  }
  return blocks;
}

const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]
  .filter((f) => !process.env.VT_DOCS_TEST_ONLY || f === process.env.VT_DOCS_TEST_ONLY)
  .sort((a, b) => (a === 'README.md' ? -1 : b === 'README.md' ? 1 : a.localeCompare(b)));

/** A `vt` on PATH that runs this checkout. */
function vtOnPath(): string {
  const bin = join(tempDir('vt-docs-bin-'), 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'vt'), `#!/bin/sh\nexec '${process.execPath}' '${VT_BIN}' "$@"\n`);
  chmodSync(join(bin, 'vt'), 0o755);
  return bin;
}

describe('the documentation runs as written', () => {
  const bin = vtOnPath();
  after(dropTestDatabases);
  for (const file of DOCS) {
    it(file, async () => {
      const blocks = extractBlocks(readFileSync(join(ROOT, file), 'utf8'));
      const scratch = tempDir('vt-docs-');
      let cwd = scratch;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        NO_COLOR: '1',
        VT_SQLITE_SYNCHRONOUS: 'NORMAL',
        // The Merkle log's key, which vt init makes: one per page, outside its workspace, never the user's.
        VT_LOG_KEY_FILE: join(tempDir('vt-docs-key-'), 'log.ed25519'),
      };
      for (const k of ['VT_ACTOR', 'VT_DATABASE_URL', 'VT_SESSION', 'VT_IDEMPOTENCY_KEY']) delete env[k];
      let ran = 0;
      for (const block of blocks) {
        if (block.skip) continue;
        cwd = scratch;
        if (block.kind === 'train') {
          const train = join(scratch, `train-${block.line}.yaml`);
          writeFileSync(train, block.text);
          const r = spawnSync(process.execPath, [VT_BIN, 'lint', train], { encoding: 'utf8', env });
          assert.equal(r.status, 0, `${file}:${block.line}: the train does not lint:\n${r.stderr}`);
          ran++;
          continue;
        }
        const url = block.postgres ? await freshPgUrl() : null;
        const blockEnv = url ? { ...env, VT_DATABASE_URL: url } : env;
        for (const step of block.steps) {
          const command = url ? step.command.replace(/postgres:\/\/[^\s"'`]+/g, url) : step.command;
          const cd = /^cd\s+(\S+)$/.exec(step.command);
          if (cd) {
            cwd = resolve(cwd, cd[1]!);
            assert.ok(existsSync(cwd), `${file}:${step.line}: cd ${cd[1]}: no such folder`);
            continue;
          }
          const r = spawnSync('bash', ['-c', command], {
            cwd,
            env: blockEnv,
            encoding: 'utf8',
            timeout: 180_000,
          });
          assert.equal(
            r.status,
            step.expect,
            `${file}:${step.line}: \`${command}\` exited ${r.status} (expected ${step.expect})\n${r.stderr}`,
          );
          ran++;
        }
      }
      assert.ok(ran > 0 || blocks.every((b) => b.skip || !b.steps.length), `${file}: nothing ran`);
    });
  }
});

describe('the documentation test itself', () => {
  it('reads commands, expected exit codes, skips, setups, PostgreSQL blocks and trains as documented above', () => {
    const md = [
      '```sh',
      './vt init              # a comment',
      'npm test',
      'vt gate check p   # exit 1 when a gate fails',
      'echo "# not a comment" > x.md',
      '```',
      '<!-- docs-test: skip needs a server -->',
      '```sh',
      'vt serve',
      '```',
      '<!-- docs-test: setup',
      'vt project create P',
      '-->',
      '```bash',
      '../vt status p',
      '```',
      '```yaml',
      'phases: []',
      '```',
      '<!-- docs-test: postgres -->',
      '```sh',
      'vt db status',
      '```',
      '```sh',
      'vt status p',
      '```',
    ].join('\n');
    const b = extractBlocks(md);
    assert.equal(b.length, 6);
    assert.deepEqual(
      b.map((x) => x.postgres),
      [false, false, false, false, true, false],
      'a postgres directive marks the next block only',
    );
    assert.deepEqual(
      b[0]!.steps.map((s) => [s.command, s.expect]),
      [
        ['vt init', 0],
        ['vt gate check p', 1],
        ['echo "# not a comment" > x.md', 0],
      ],
    );
    assert.equal(b[1]!.skip, 'needs a server');
    assert.deepEqual(
      b[2]!.steps.map((s) => s.command),
      ['vt project create P', 'vt status p'],
    );
    assert.equal(b[3]!.kind, 'train');
  });
});
