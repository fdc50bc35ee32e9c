import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from './helpers.ts';

/** The engine's pure core: deciding and folding, with no I/O of its own. */
const CORE = [
  'src/engine/core.ts',
  'src/engine/state.ts',
  'src/engine/tickets.ts',
  'src/engine/events.ts',
  'src/engine/gate-context.ts',
  'src/engine/views.ts',
  'src/engine/schedule.ts',
  'src/engine/operations.ts',
  'src/engine/due-visits.ts',
  'src/engine/retire.ts',
  'src/gates/digest.ts',
  'src/expr/metric-expr.ts',
];
const IO =
  /from '(node:(fs|child_process|net|http|https|dgram|worker_threads)(\/promises)?|better-sqlite3|pg|kysely|ai|@ai-sdk\/[^']+|@octokit\/[^']+|@modelcontextprotocol\/[^']+)'/;

describe('layering', () => {
  it('the engine core imports no I/O: no file system, processes, network, database or model SDK', () => {
    for (const file of CORE) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const hit = text.split('\n').find((l) => l.startsWith('import') && IO.test(l));
      assert.equal(hit, undefined, `${file}: ${hit}`);
    }
  });

  it('nothing under src/engine imports a driver package or spawns a process', () => {
    for (const f of readdirSync(join(ROOT, 'src', 'engine'))) {
      const text = readFileSync(join(ROOT, 'src', 'engine', f), 'utf8');
      assert.doesNotMatch(text, /from '(node:child_process|better-sqlite3|pg|ai|@ai-sdk\/[^']+)'/, f);
    }
  });
});
