import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Installed version of a dependency, found from its entry point (works despite "exports" maps). */
export function installedVersion(pkg: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(pkg));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const meta = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (meta.name === pkg && meta.version) return meta.version;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the package.json of ${pkg}`);
    dir = up;
  }
}
