// The architecture, enforced: every file under src/ is read (multi-line and dynamic imports
// included) and each import must go in a direction its folder is allowed. The engine imports no
// adapter, the store no adapter, and engine/gates, train/gates and agents/mcp never import each other
// both ways.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers.ts';

const SRC = join(ROOT, 'src');
const ROOT_FILES = '(root)';
/** Everything but the adapters: what the core is made of. */
const CORE = ['expr', 'identity', 'train', 'gates', 'store', 'engine'];

/**
 * Which folders each folder may import from (its own always). `(root)` holds the leaf files
 * (types.ts, errors.ts, redact.ts, canonical.ts) — and wiring.ts, the one place that wires
 * everything, which is exempt.
 */
const MAY_IMPORT: Record<string, string[]> = {
  [ROOT_FILES]: [],
  expr: [ROOT_FILES],
  identity: [ROOT_FILES],
  train: [ROOT_FILES, 'expr', 'identity'],
  gates: [ROOT_FILES, 'expr', 'train'],
  store: [ROOT_FILES, 'engine'], // only the engine's event and state types: see below
  engine: [ROOT_FILES, 'expr', 'identity', 'train', 'gates', 'store'],
  context: [ROOT_FILES, 'engine', 'train'],
  audit: [ROOT_FILES, 'engine', 'identity', 'store', 'train'],
  analytics: [ROOT_FILES, 'engine', 'store', 'train'],
  io: [ROOT_FILES, 'engine', 'gates'],
  agents: [ROOT_FILES, ...CORE, 'context', 'io'],
  mcp: [ROOT_FILES, ...CORE, 'agents', 'context'],
  integrations: [ROOT_FILES, ...CORE, 'autopilot', 'io'],
  autopilot: [ROOT_FILES, ...CORE, 'agents', 'context', 'integrations', 'io', 'mcp'],
  api: [
    ROOT_FILES,
    ...CORE,
    'agents',
    'analytics',
    'audit',
    'autopilot',
    'context',
    'integrations',
    'io',
    'mcp',
  ],
  cli: [
    ROOT_FILES,
    ...CORE,
    'agents',
    'analytics',
    'api',
    'audit',
    'autopilot',
    'context',
    'integrations',
    'io',
    'mcp',
  ],
};
/** The store projects the engine's events: it may read their shapes, nothing else of the engine. */
const STORE_MAY_USE_FROM_ENGINE = ['engine/events.ts', 'engine/state.ts', 'engine/confirmation.ts'];

/** The engine's pure core: deciding and folding, with no I/O of its own. */
const PURE = [
  'src/engine/core.ts',
  'src/engine/state.ts',
  'src/engine/tickets.ts',
  'src/engine/events.ts',
  'src/engine/gate-context.ts',
  'src/engine/views.ts',
  'src/train/schedule.ts',
  'src/engine/operations.ts',
  'src/engine/due-visits.ts',
  'src/engine/retire.ts',
  'src/engine/decision-proof.ts',
  'src/identity/proof.ts',
  'src/identity/pinned-ring.ts',
  'src/gates/digest.ts',
  'src/expr/metric-expr.ts',
];
const IO_PACKAGES =
  /^(node:(fs|child_process|net|http|https|dgram|worker_threads)(\/promises)?|better-sqlite3|pg|kysely|ai|@ai-sdk\/.+|@octokit\/.+|@modelcontextprotocol\/.+)$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every module a file imports or re-exports, statically or dynamically, with its line. */
function importsOf(file: string): { spec: string; line: number }[] {
  const text = readFileSync(file, 'utf8');
  const out: { spec: string; line: number }[] = [];
  const patterns = [
    /(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]/g,
    /(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns)
    for (const m of text.matchAll(re))
      out.push({
        spec: m[1]!,
        line: text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0),
      });
  return out;
}

const folderOf = (srcRelative: string) =>
  srcRelative.includes('/') ? srcRelative.split('/')[0]! : ROOT_FILES;

const files = walk(SRC).map((abs) => ({ abs, rel: relative(SRC, abs) }));

describe('layering', () => {
  it('reads every file under src/, multi-line and dynamic imports included', () => {
    assert.ok(files.length > 100, `${files.length} files`);
    // A multi-line import is seen (the parser is not line-based).
    const multi = files.find((f) => /import \{\n/.test(readFileSync(f.abs, 'utf8')));
    assert.ok(multi, 'some file has a multi-line import');
    assert.ok(importsOf(multi.abs).length > 0);
  });

  it('every import goes in a direction its folder is allowed', () => {
    const problems: string[] = [];
    for (const f of files) {
      const from = folderOf(f.rel);
      if (f.rel === 'wiring.ts') continue;
      const allowed = MAY_IMPORT[from];
      if (!allowed) {
        problems.push(`${f.rel}: the folder ${from} has no layering rule; add one to test/layering.test.ts`);
        continue;
      }
      for (const { spec, line } of importsOf(f.abs)) {
        if (!spec.startsWith('.')) continue;
        const target = relative(SRC, normalize(join(dirname(f.abs), spec)));
        if (target.startsWith('..')) continue; // outside src (package.json)
        const to = folderOf(target);
        if (to === from) continue;
        if (target === 'wiring.ts' && from !== 'cli' && from !== 'api')
          problems.push(`${f.rel}:${line} imports wiring.ts (only the edges wire)`);
        else if (!allowed.includes(to)) problems.push(`${f.rel}:${line} imports ${target} (${from} → ${to})`);
        else if (from === 'store' && to === 'engine' && !STORE_MAY_USE_FROM_ENGINE.includes(target))
          problems.push(`${f.rel}:${line} imports ${target}: the store uses only the engine's event types`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('no circle between engine and gates, train and gates, agents and mcp', () => {
    const edges = new Set<string>();
    for (const f of files)
      for (const { spec } of importsOf(f.abs)) {
        if (!spec.startsWith('.')) continue;
        const to = folderOf(relative(SRC, normalize(join(dirname(f.abs), spec))));
        edges.add(`${folderOf(f.rel)}→${to}`);
      }
    for (const [a, b] of [
      ['engine', 'gates'],
      ['train', 'gates'],
      ['agents', 'mcp'],
    ])
      assert.ok(!(edges.has(`${a}→${b}`) && edges.has(`${b}→${a}`)), `${a} and ${b} import each other`);
  });

  it('the engine core imports no I/O: no file system, processes, network, database or model SDK', () => {
    for (const file of PURE)
      for (const { spec, line } of importsOf(join(ROOT, file)))
        assert.ok(!IO_PACKAGES.test(spec), `${file}:${line} imports ${spec}`);
  });

  it('nothing under src/engine imports a driver package or spawns a process', () => {
    for (const f of files.filter((x) => x.rel.startsWith('engine/')))
      for (const { spec, line } of importsOf(f.abs))
        assert.ok(
          !/^(node:child_process|better-sqlite3|pg|ai|@ai-sdk\/.+)$/.test(spec),
          `${f.rel}:${line} ${spec}`,
        );
  });
});
