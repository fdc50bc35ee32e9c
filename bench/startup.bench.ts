/**
 * Start-up: the whole-process time of `vt --help`, `vt status P --json` and `vt metric set P auc X`
 * against `node -e ''` with the same Node, measured in one run, interleaved. vt runs as an installed
 * package does: bin/vt.js with the JavaScript built by scripts/build.ts (a fresh build in a temporary
 * folder laid out like node_modules/value-train). The checkout's TypeScript sources are measured
 * too, for comparison.
 *
 *   node bench/startup.bench.ts [--rounds 15] [--json]
 *
 * Targets (ratios of medians): --help ≤ 2× node -e '', store commands ≤ 3×. Not a test: it prints
 * PASS/FAIL and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const asJson = args.includes('--json');
const at = args.indexOf('--rounds');
const rounds = at >= 0 ? Number(args[at + 1]) : 15;

const work = mkdtempSync(join(tmpdir(), 'vt-startup-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// An installed package's layout: bin/, dist/, templates/, package.json, and its node_modules.
const pkg = join(work, 'value-train');
mkdirSync(pkg);
for (const f of ['bin', 'templates', 'package.json'])
  cpSync(join(root, f), join(pkg, f), { recursive: true });
symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
const built = spawnSync(process.execPath, [join(root, 'scripts', 'build.ts'), '--out', join(pkg, 'dist')], {
  encoding: 'utf8',
});
if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);

const project = join(work, 'project');
mkdirSync(project);
// The launcher's code cache (bin/vt.js) goes to a folder of the run's own; the warm-up round writes it.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  NO_COLOR: '1',
  VT_ACTOR: 'bench',
  XDG_CACHE_HOME: join(work, 'cache'),
};
delete env.VT_DATABASE_URL;
/**
 * Run node with argv; wall time, and CPU time (user + system) from bash's `times` for its children,
 * which moves much less than wall time on a busy machine.
 */
const errFile = join(work, 'stderr');
const run = (argv: string[]): { wall: number; cpu: number } => {
  const t = performance.now();
  const r = spawnSync(
    'bash',
    ['-c', `"$@" >/dev/null 2>'${errFile}'; s=$?; times; exit $s`, 'bash', process.execPath, ...argv],
    { cwd: project, env, encoding: 'utf8' },
  );
  const wall = performance.now() - t;
  if (r.status !== 0)
    throw new Error(`${argv.join(' ')} exited ${r.status}: ${readFileSync(errFile, 'utf8')}`);
  const secs = (s: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(s);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  const [user, sys] = (r.stdout.trim().split('\n')[1] ?? '').split(/\s+/);
  return { wall, cpu: (secs(user ?? '') + secs(sys ?? '')) * 1000 };
};
const installed = join(pkg, 'bin', 'vt.js');
const checkout = join(root, 'bin', 'vt.js');
run([installed, 'init']);
run([installed, 'project', 'create', 'Bench', '--id', 'p']);

let n = 0;
const cases: Record<string, () => string[]> = {
  "node -e ''": () => ['-e', ''],
  'vt --help': () => [installed, '--help'],
  'vt status p --json': () => [installed, 'status', 'p', '--json'],
  'vt metric set': () => [installed, 'metric', 'set', 'p', 'auc', String(0.5 + (n++ % 100) / 1000)],
  'checkout: vt --help': () => [checkout, '--help'],
  'checkout: vt status p --json': () => [checkout, 'status', 'p', '--json'],
  'checkout: vt metric set': () => [checkout, 'metric', 'set', 'p', 'auc', String(0.5 + (n++ % 100) / 1000)],
};
const times: Record<string, { wall: number; cpu: number }[]> = Object.fromEntries(
  Object.keys(cases).map((k) => [k, []]),
);
for (const argv of Object.values(cases)) run(argv()); // warm the compile cache and the page cache
for (let r = 0; r < rounds; r++) for (const [k, argv] of Object.entries(cases)) times[k]!.push(run(argv()));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const of = (k: string, f: 'wall' | 'cpu') => median(times[k]!.map((t) => t[f]));
const baseWall = of("node -e ''", 'wall');
const baseCpu = of("node -e ''", 'cpu');
const targets: Record<string, number> = { 'vt --help': 2, 'vt status p --json': 3, 'vt metric set': 3 };
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const rows = Object.keys(cases).map((k) => {
  const target = targets[k] ?? null;
  const wall = of(k, 'wall') / baseWall;
  const cpu = of(k, 'cpu') / baseCpu;
  return {
    case: k,
    wall_ms: r1(of(k, 'wall')),
    cpu_ms: r1(of(k, 'cpu')),
    wall_ratio: r2(wall),
    cpu_ratio: r2(cpu),
    target,
    pass: target === null ? null : wall <= target,
  };
});
if (asJson) {
  console.log(JSON.stringify({ node: process.versions.node, rounds, rows }));
} else {
  console.log(
    `Node ${process.versions.node}, ${rounds} rounds interleaved; medians per process (wall, and CPU = user + system)`,
  );
  console.log(
    `${'case'.padEnd(30)} ${'wall ms'.padStart(8)} ${'× node'.padStart(7)} ${'CPU ms'.padStart(8)} ${'× node'.padStart(7)}  target (wall)`,
  );
  for (const r of rows)
    console.log(
      `${r.case.padEnd(30)} ${String(r.wall_ms).padStart(8)} ${String(r.wall_ratio).padStart(7)} ${String(r.cpu_ms).padStart(8)} ${String(r.cpu_ratio).padStart(7)}${r.target ? `  ≤ ${r.target}× ${r.pass ? 'PASS' : 'FAIL'}` : ''}`,
    );
}
