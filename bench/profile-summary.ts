/**
 * Summarise a V8 .cpuprofile by self time per file (and the top functions):
 *   node --cpu-prof --cpu-prof-dir=/tmp/vt-prof bench/engine.bench.ts
 *   node bench/profile-summary.ts /tmp/vt-prof/CPU.*.cpuprofile [top]
 * Time spent inside better-sqlite3's native calls (SQLite itself, fsync included) is charged to the
 * JavaScript function that made the call: the engine's executeQuery in src/store/dialects/sqlite.ts;
 * better-sqlite3's own transaction wrapper (sqliteTransaction) for the raw commits and the LangGraph
 * saver's putWrites; the saver's put() in @langchain/langgraph-checkpoint-sqlite.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/profile-summary.ts FILE.cpuprofile [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const root = new URL('..', import.meta.url).href;

/** A file's name relative to the repository; packages are collapsed to their name. */
function fileOf(cf: CallFrame): string {
  if (!cf.url) return `(${cf.functionName || 'native'})`;
  const rel = cf.url.startsWith(root) ? cf.url.slice(root.length) : cf.url;
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(rel);
  return pkg ? `node_modules/${pkg[1]}` : rel;
}

const byFile = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  const node = nodes.get(id);
  if (!node) return;
  total += dt;
  const f = fileOf(node.callFrame);
  byFile.set(f, (byFile.get(f) ?? 0) + dt);
  const fn = `${node.callFrame.functionName || '(anonymous)'}  ${f}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
});

const show = (title: string, m: Map<string, number>) => {
  process.stdout.write(`${title}\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const ms = (us / 1000).toFixed(0).padStart(7);
    const pct = ((100 * us) / total).toFixed(1).padStart(5);
    process.stdout.write(`${ms} ms ${pct}%  ${k}\n`);
  }
};
process.stdout.write(`total sampled ${(total / 1000).toFixed(0)} ms\n`);
show('-- self time by file', byFile);
show('-- self time by function', byFunction);
