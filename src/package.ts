import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the package's own files are. The same code runs from `src/` (a checkout, TypeScript run by
 * Node's type stripping) and from `dist/` (the JavaScript built at pack time, in an installed
 * package), so paths are found from the package root rather than relative to this file.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && /"name":\s*"value-train"/.test(readFileSync(manifest, 'utf8'))) return dir;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`vt cannot find its package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
/** True when running the built JavaScript in dist/ (an installed package), false in a checkout. */
export const RUNNING_BUILT = relative(PACKAGE_ROOT, fileURLToPath(import.meta.url)).startsWith(`dist${sep}`);
/** The launcher: executors and MCP configurations start `node VT_JS ...`. */
export const VT_JS = join(PACKAGE_ROOT, 'bin', 'vt.js');
export const TEMPLATES_DIR = join(PACKAGE_ROOT, 'templates');
/** Example projects; built ones (their scripts as JavaScript) in an installed package. */
export const EXAMPLES_DIR = join(PACKAGE_ROOT, RUNNING_BUILT ? join('dist', 'examples') : 'examples');

let version: string | null = null;
/** The package's version, from its package.json. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  return version;
}
