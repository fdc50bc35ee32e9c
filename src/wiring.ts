import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type Clock, Engine } from './engine/engine.ts';
import { nodeIo } from './io/node-io.ts';
import { openStore, type Store, type StoreOptions } from './store/store.ts';

export const TRAIN_FILE = 'vt.yaml';
export const STATE_DIR = '.vt';

/** Find vt.yaml in `from` or the nearest parent, as git finds .git. */
export function findRoot(from: string): string | null {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, TRAIN_FILE))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function defaultDbPath(root: string): string {
  return join(root, STATE_DIR, 'vt.db');
}

export interface Vt {
  engine: Engine;
  store: Store;
  close(): Promise<void>;
}

/** The one place that wires the store, the machine's I/O and the engine together. */
export async function openVt(dbTarget: string, opts: StoreOptions & { clock?: Clock } = {}): Promise<Vt> {
  const store = await openStore(dbTarget, opts);
  const engine = new Engine({ store, io: nodeIo, ...(opts.clock ? { clock: opts.clock } : {}) });
  return { engine, store, close: () => store.close() };
}
