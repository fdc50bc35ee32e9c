// Build the JavaScript an installed package runs (`npm pack` runs this as `prepack`): Node does not
// strip types from .ts files under node_modules, so the package ships dist/, not src/.
//
//   dist/vt.cjs              the CLI's entry, bundled by Rolldown into a few chunks:
//   dist/chunks/cli-*.cjs    what every command loads: commander and the command table
//   dist/chunks/core-*.cjs   the engine, the store, the audit log: every module that commands import
//                            inside their actions and that loads no heavy package
//   dist/chunks/kysely-*.cjs the query builder, for commands that open a store
//   dist/chunks/*.cjs        the rest, one chunk per lazily loaded part: anything that needs zod,
//                            yaml, pg, the AI and MCP SDKs, Octokit, the API server
//   dist/examples/penguins/  the demo's step scripts as JavaScript, with the example's data.
//
// Few chunks matter more than small ones: each file Node loads costs resolving, reading, compiling
// and linking, which for the ~70 chunks of esbuild's automatic splitting was a quarter of a store
// command's time (docs/benchmarks.md). The SDKs stay in node_modules.
//
// The chunks are CommonJS, loaded by bin/vt.js rather than by Node's module loader: a chunk is
// compiled as a vm.Script, so the launcher can keep V8's code cache of it as it is after a run,
// with the functions that run compiled. Node's compile cache keeps a module as it was when first
// compiled, which leaves out every function V8 compiles lazily, most of a command's code. A lazy
// `import()` becomes a `require` of the chunk, so every chunk goes through the launcher.
//
// Usage: node scripts/build.ts [--out DIR]
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'rolldown';
import { stateSourceDigest } from '../src/store/snapshots.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--out');
const out = at > 0 ? resolve(process.argv[at + 1]!) : join(root, 'dist');

/**
 * Packages bundled into the chunks; every other package is imported from node_modules.
 * better-sqlite3's JavaScript is bundled (a dozen files fewer to load on every store command); its
 * native addon is still found and loaded by the installed package (see betterSqliteAddon).
 */
const BUNDLED = new Set(['kysely', 'commander', 'canonicalize', 'zod', 'better-sqlite3']);
/** Packages a core module may load. Any other package, or bundled zod, keeps a module out of core. */
const LIGHT_PACKAGES = new Set(['better-sqlite3', 'kysely', 'canonicalize', 'commander']);

const packageOf = (id: string): string | null => {
  const m = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(id);
  if (m) return m[1]!.replace('\\', '/');
  if (/^[./]/.test(id) || /^[A-Za-z]:/.test(id)) return null;
  return id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0]!;
};
const isBuiltin = (id: string) => id.startsWith('node:') || builtinModules.includes(id);

interface Graph {
  getModuleInfo(id: string): { importedIds: readonly string[] } | null;
}
/** Whether a module, with everything it imports statically, loads only light packages. */
const lightness = new Map<string, boolean>();
function isLight(id: string, graph: Graph, visiting = new Set<string>()): boolean {
  const known = lightness.get(id);
  if (known !== undefined) return known;
  if (isBuiltin(id) || id.startsWith('\0')) return true; // \0: a module made by a plugin below
  const pkg = packageOf(id);
  if (pkg !== null && !LIGHT_PACKAGES.has(pkg)) return false;
  if (visiting.has(id)) return true; // a cycle: decided by the modules outside it
  visiting.add(id);
  const light = (graph.getModuleInfo(id)?.importedIds ?? []).every((dep) => isLight(dep, graph, visiting));
  visiting.delete(id);
  lightness.set(id, light);
  return light;
}

/**
 * Node's built-in modules load when an export of theirs is first used, not when a chunk is
 * evaluated. An ESM import of a built-in reads every one of its exports, and some are getters that
 * load more: importing node:fs, node:process and node:util loads fs/promises, streams, readline and
 * worker_threads; node:child_process loads net and dgram. That was several milliseconds on every
 * command, most of it for modules the command never used (commander alone requires
 * node:child_process for a feature vt does not use). Each built-in becomes a small module whose
 * exports are getters over process.getBuiltinModule; its export names are read here, at build time.
 */
const BUILTIN = '\0builtin:';
// node:module stays an import: Rolldown's own runtime imports it, before any chunk has run.
const atFirstUse = (id: string) => isBuiltin(id) && id !== 'node:module' && id !== 'module';
const builtinsAtFirstUse: Plugin = {
  name: 'builtins-at-first-use',
  resolveId(source) {
    if (!atFirstUse(source)) return null;
    return `${BUILTIN}${source.startsWith('node:') ? source : `node:${source}`}`;
  },
  load(id) {
    if (!id.startsWith(BUILTIN)) return null;
    const name = id.slice(BUILTIN.length);
    const keys = Object.keys(process.getBuiltinModule(name) as object);
    const getters = keys.map(
      (k) => `${JSON.stringify(k)}: { enumerable: true, get: () => load()[${JSON.stringify(k)}] }`,
    );
    return [
      'let m;',
      `const load = () => (m ??= process.getBuiltinModule(${JSON.stringify(name)}));`,
      `Object.defineProperties(module.exports, {\n${getters.join(',\n')}\n});`,
    ].join('\n');
  },
};

/**
 * better-sqlite3's lib/binding.js finds the native addon relative to its own folder, which a bundle
 * no longer is: the bundle takes that one file from the installed package instead.
 */
const ADDON = '\0better-sqlite3-binding';
const betterSqliteAddon: Plugin = {
  name: 'better-sqlite3-addon',
  resolveId(source, importer) {
    return source === './binding' && importer && /[\\/]better-sqlite3[\\/]lib[\\/]/.test(importer)
      ? ADDON
      : null;
  },
  load(id) {
    if (id !== ADDON) return null;
    return [
      "import { createRequire } from 'node:module';",
      'const require = createRequire(import.meta.url);',
      "const binding = require(require.resolve('better-sqlite3').replace(/index\\.js$/, 'binding.js'));",
      'export const getBinding = binding.getBinding;',
    ].join('\n');
  },
};

const started = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const external = (id: string) => {
  if (isBuiltin(id)) return !atFirstUse(id); // see builtinsAtFirstUse
  const pkg = packageOf(id);
  return pkg !== null && !/^[./]/.test(id) && !BUNDLED.has(pkg);
};

await build({
  input: { vt: join(root, 'src/cli/main.ts') },
  platform: 'node',
  external,
  // Snapshots of a project's state are keyed by the code that folds them (src/store/snapshots.ts).
  transform: { define: { VT_STATE_SOURCE_SHA256: JSON.stringify(stateSourceDigest()) } },
  plugins: [builtinsAtFirstUse, betterSqliteAddon],
  logLevel: 'warn',
  onLog(level, log, handler) {
    // A module imported both statically and lazily stays where the static import puts it: expected.
    if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
    handler(level, log);
  },
  output: {
    dir: out,
    format: 'cjs',
    dynamicImportInCjs: false, // see the top: chunks load through the launcher's require
    entryFileNames: '[name].cjs',
    chunkFileNames: 'chunks/[name]-[hash].cjs',
    comments: { legal: true },
    codeSplitting: {
      groups: [
        { name: 'cli', tags: ['$initial'], priority: 3 },
        { name: 'kysely', test: /[\\/]node_modules[\\/]kysely[\\/]/, priority: 2 },
        { name: (id, ctx) => (isLight(id, ctx) ? 'core' : null), debugName: 'core', priority: 1 },
      ],
    },
  },
});

const example = join(root, 'examples', 'penguins');
const exampleOut = join(out, 'examples', 'penguins');
await build({
  input: { run: join(example, 'steps', 'run.ts') },
  platform: 'node',
  external: (id) => isBuiltin(id) || packageOf(id) !== null,
  logLevel: 'warn',
  output: { dir: join(exampleOut, 'steps'), format: 'es', chunkFileNames: '[name]-[hash].js' },
});
for (const f of ['data', 'project-brief.yaml', 'README.md'])
  if (existsSync(join(example, f))) cpSync(join(example, f), join(exampleOut, f), { recursive: true });

writeFileSync(join(out, 'BUILT'), 'JavaScript built from src/ by scripts/build.ts; do not edit.\n');
process.stderr.write(`built ${out} in ${Math.round(performance.now() - started)} ms\n`);
