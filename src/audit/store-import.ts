import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncDir, fsyncFile, mkdirDurable } from '../durable.ts';
import { VtError } from '../errors.ts';
import { classifyFailure } from '../failures.ts';
import type { StoredEvent } from '../store/chain.ts';
import { adoptLogOrigin, appendToLog } from '../store/merkle-log.ts';
import { rebuildProjections } from '../store/projector.ts';
import { inspectStoreFile } from '../store/sqlite-file.ts';
import { openStore } from '../store/store.ts';
import { TRAIN_FORMAT } from '../train/format.ts';
import { canonicalTrain } from '../train/hash.ts';
import type { LoadedTrain } from '../train/loader.ts';
import { verifyStore } from './audit.ts';
import { verifyBundle } from './bundle.ts';

export interface ImportResult {
  store: string;
  events: number;
  projects: number;
  /** Trains (by content hash) the projects pinned that were found in the given train files. */
  trains: string[];
  /** Projects whose pinned train was in none of the given files. */
  missingTrains: { project: string; train_hash: string }[];
}

/** The events of an audit export bundle, in the order they were committed. */
function bundleEvents(file: string): (StoredEvent & { gseq?: number })[] {
  const lines = readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean);
  const events = lines
    .map((l) => JSON.parse(l) as StoredEvent & { gseq?: number })
    .filter(
      (e) => typeof e.project_id === 'string' && typeof e.seq === 'number' && typeof e.hash === 'string',
    );
  const hasOrder = events.every((e) => typeof e.gseq === 'number');
  return events.sort((a, b) =>
    hasOrder
      ? a.gseq! - b.gseq!
      : a.ts.localeCompare(b.ts) || a.project_id.localeCompare(b.project_id) || a.seq - b.seq,
  );
}

/**
 * Rebuild a store from an audit export bundle: the bundle is verified offline, its events are
 * inserted as they are (same hashes) into a new store built under a temporary name, the trains the
 * projects pinned are taken from the given train files (matched by content hash), the projections
 * are rebuilt from the events, every chain is verified against the bundle's heads, and only then is
 * the new store fsynced and renamed into place. A store that already holds data is never replaced.
 */
export async function importBundle(
  bundle: string,
  file: string,
  trains: LoadedTrain[],
): Promise<ImportResult> {
  const verdict = verifyBundle(bundle);
  if (!verdict.ok)
    throw new VtError(
      'VERIFY_FAILED',
      `the bundle ${bundle} does not verify: event ${verdict.firstBad?.project_id}#${verdict.firstBad?.seq}: ${verdict.firstBad?.reason}`,
    );
  const state = inspectStoreFile(file).state;
  if (state === 'ok')
    throw new VtError('CONFLICT', `${file} already holds a store; import builds a new one`, {
      hint: 'Import into a new file with --db NEW.db, or move the old store aside first',
    });
  const events = bundleEvents(bundle);
  mkdirDurable(dirname(file));
  const tmp = join(dirname(file), `.${basename(file)}.import-${process.pid}`);
  for (const s of ['', '-wal', '-shm']) rmSync(tmp + s, { force: true });
  try {
    const store = await openStore(tmp, { synchronous: 'NORMAL' });
    let result: ImportResult;
    try {
      const byHash = new Map(trains.map((t) => [t.hash, t]));
      const used = new Set<string>();
      const missingTrains: ImportResult['missingTrains'] = [];
      await store.transaction(async (trx) => {
        // Events are numbered 1, 2, ... in the order they were committed (a one-project bundle has
        // gaps in its numbers), and the new store's Merkle log takes them as its leaves.
        const logged: { gseq: number; project_id: string; seq: number; hash: string }[] = [];
        let g = 0;
        for (const e of events) {
          g++;
          logged.push({ gseq: g, project_id: e.project_id, seq: e.seq, hash: e.hash });
          await trx
            .insertInto('events')
            .values({
              project_id: e.project_id,
              seq: e.seq,
              ts: e.ts,
              actor: e.actor,
              type: e.type,
              payload: e.payload,
              payload_sha256: e.payload_sha256,
              prev_hash: e.prev_hash,
              hash: e.hash,
              idempotency_key: e.idempotency_key,
              gseq: g,
            })
            .execute();
          if (e.type !== 'project.created') continue;
          const hash = (JSON.parse(e.payload) as { train_hash: string }).train_hash;
          const t = byHash.get(hash);
          if (!t) {
            missingTrains.push({ project: e.project_id, train_hash: hash });
            continue;
          }
          if (used.has(hash)) continue;
          used.add(hash);
          await trx
            .insertInto('trains')
            .values({
              hash,
              name: t.train.name,
              body: canonicalTrain(t.train),
              created_at: e.ts,
              format: TRAIN_FORMAT,
            })
            .execute();
        }
        await appendToLog(trx, logged);
        // A whole-store bundle holds every leaf its checkpoint signed (verifyBundle recomputed the
        // root): the store is that log again, so the checkpoints kept for it still verify.
        if (verdict.log?.complete) await adoptLogOrigin(trx, verdict.log.origin);
      });
      const rebuilt = await rebuildProjections(store);
      const v = await verifyStore(store.db);
      const sameHeads =
        JSON.stringify(Object.entries(v.heads).sort()) ===
        JSON.stringify(Object.entries(verdict.heads).sort());
      if (!v.ok || !sameHeads)
        throw new VtError('VERIFY_FAILED', 'the imported store does not verify against the bundle', {
          details: { firstBad: v.firstBad },
        });
      result = {
        store: file,
        events: rebuilt.events,
        projects: rebuilt.projects,
        trains: [...used],
        missingTrains,
      };
    } finally {
      await store.close(); // the last connection closing folds the WAL into the file
    }
    fsyncFile(tmp);
    if (existsSync(file)) {
      // An empty or damaged store is kept beside, never deleted.
      const aside = `${file}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const s of ['', '-wal', '-shm']) if (existsSync(file + s)) renameSync(file + s, aside + s);
    }
    renameSync(tmp, file);
    fsyncDir(dirname(file));
    return result;
  } catch (err) {
    for (const s of ['', '-wal', '-shm']) rmSync(tmp + s, { force: true });
    throw classifyFailure(err, { store: file });
  }
}
