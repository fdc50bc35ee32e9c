// Build the JavaScript an installed package runs (`npm pack` runs this as `prepack`): Node does not
// strip types from .ts files under node_modules, so the package ships dist/, not src/.
//
//   dist/vt.js + dist/chunks/   the CLI, bundled by esbuild. Modules that commands import inside
//                               their actions (the engine, the store, the SDKs) become chunks that
//                               load only when a command needs them. better-sqlite3 (native) and
//                               the SDKs stay in node_modules.
//   dist/examples/penguins/     the demo's step scripts as JavaScript, with the example's data.
//
// Usage: node scripts/build.ts [--out DIR]
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--out');
const out = at > 0 ? resolve(process.argv[at + 1]!) : join(root, 'dist');

/**
 * Packages bundled into the CLI: the ones nearly every store command loads. Bundled, they are one
 * parse instead of hundreds of files to resolve and link (Kysely alone is ~400 modules).
 */
const BUNDLED = new Set(['kysely', 'commander', 'canonicalize', 'zod']);

const started = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  sourcemap: false,
  legalComments: 'inline',
  logLevel: 'warning',
  // CommonJS dependencies bundled into ESM still call require().
  banner: {
    js: "import { createRequire as __vtRequire } from 'node:module'; const require = __vtRequire(import.meta.url);",
  },
} as const;

const externalUnlessBundled = {
  name: 'external-packages',
  setup(b: { onResolve(o: { filter: RegExp }, cb: (a: { path: string }) => unknown): void }) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { external: true };
      const name = args.path.startsWith('@')
        ? args.path.split('/').slice(0, 2).join('/')
        : args.path.split('/')[0]!;
      return BUNDLED.has(name) ? undefined : { external: true };
    });
  },
};

await build({
  ...common,
  entryPoints: { vt: join(root, 'src/cli/main.ts') },
  outdir: out,
  chunkNames: 'chunks/[name]-[hash]',
  plugins: [externalUnlessBundled],
});

const example = join(root, 'examples', 'penguins');
const exampleOut = join(out, 'examples', 'penguins');
await build({
  ...common,
  entryPoints: { run: join(example, 'steps', 'run.ts') },
  outdir: join(exampleOut, 'steps'),
  chunkNames: '[name]-[hash]',
  packages: 'external',
});
for (const f of ['data', 'project-brief.yaml', 'README.md'])
  if (existsSync(join(example, f))) cpSync(join(example, f), join(exampleOut, f), { recursive: true });

writeFileSync(join(out, 'BUILT'), 'JavaScript built from src/ by scripts/build.ts; do not edit.\n');
process.stderr.write(`built ${out} in ${Math.round(performance.now() - started)} ms\n`);
