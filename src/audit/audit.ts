import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import { canonicalJson, sha256 } from '../canonical.ts';
import { VtError } from '../errors.ts';
import {
  type ChainHead,
  ChainVerifier,
  type StoredEvent,
  type VerifyResult,
  verifyEvents,
} from '../store/chain.ts';
import type { Db } from '../store/store.ts';
import { DecisionAuditor, type StoreVerifyResult, storedTrains, withDecisions } from './decisions.ts';

const PAGE = 1000;

/**
 * Every event of the store, in (project, seq) order, read page by page: each page starts after
 * the last row of the one before (`(project_id, seq) > (?, ?)`, a seek on the primary key), so
 * no page rereads or skips rows and memory holds one page.
 */
async function* allEvents(db: Db, projectId?: string): AsyncGenerator<StoredEvent> {
  let after: [string, number] = ['', 0];
  for (;;) {
    let q = db.selectFrom('events').selectAll();
    if (projectId) q = q.where('project_id', '=', projectId);
    const [p, s] = after;
    const rows = await q
      .where(sql<boolean>`(project_id, seq) > (${p}, ${s})`)
      .orderBy('project_id')
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    yield* rows;
    if (rows.length < PAGE) return;
    const last = rows[rows.length - 1]!;
    after = [last.project_id, last.seq];
    // Give the event loop a turn between pages: the garbage collector's tasks run there, so the
    // heap is collected as it goes instead of growing with the history (SQLite reads never yield).
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Recompute every chain in the store and compare each head with the one the projections recorded,
 * and check every person's decision's signature (src/audit/decisions.ts). Events stream through
 * both checks: memory holds a page, one head per project and one project's folded state.
 */
export async function verifyStore(db: Db, projectId?: string): Promise<StoreVerifyResult> {
  let q = db.selectFrom('projects').select(['id', 'head_seq', 'head_hash']);
  if (projectId) q = q.where('id', '=', projectId);
  const heads: Record<string, ChainHead> = {};
  for (const r of await q.execute()) heads[r.id] = { seq: r.head_seq, hash: r.head_hash };
  const v = new ChainVerifier(heads);
  const decisions = new DecisionAuditor(await storedTrains(db));
  for await (const e of allEvents(db, projectId)) {
    const ok = v.push(e);
    decisions.push(e);
    if (!ok) break;
  }
  return withDecisions(v.finish(), decisions.finish());
}

export interface BundleManifest {
  format: 'vt-audit-bundle';
  version: 1;
  created_at: string;
  events: number;
  heads: Record<string, ChainHead>;
  /** sha256 of the event lines, in order, each with its trailing newline. */
  events_sha256: string;
}

/**
 * Write a self-contained bundle: a manifest line, then one event per line. It verifies with no
 * database. Written to a temporary file and renamed, so a crash never leaves half a bundle.
 */
export async function exportBundle(
  db: Db,
  file: string,
  now: Date,
  projectId?: string,
): Promise<BundleManifest> {
  const lines: string[] = [];
  const events: StoredEvent[] = [];
  for await (const e of allEvents(db, projectId)) {
    events.push(e);
    lines.push(`${canonicalJson(e)}\n`);
  }
  const check = verifyEvents(events);
  if (!check.ok) {
    const b = check.firstBad!;
    throw new VtError(
      'VERIFY_FAILED',
      `refusing to export: event ${b.project_id}#${b.seq} does not verify (${b.reason})`,
    );
  }
  const body = lines.join('');
  const manifest: BundleManifest = {
    format: 'vt-audit-bundle',
    version: 1,
    created_at: now.toISOString(),
    events: events.length,
    heads: check.heads,
    events_sha256: sha256(body),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${canonicalJson(manifest)}\n${body}`);
  renameSync(tmp, file);
  return manifest;
}

/** Verify a bundle file offline: the chains, the event digest and the heads its manifest names. */
export function verifyBundle(file: string): VerifyResult & { manifestOk: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VtError('NOT_FOUND', `cannot read the bundle ${file}: ${(err as Error).message}`);
  }
  const [head, ...rest] = text.split('\n');
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(head ?? '');
  } catch {
    throw new VtError('BAD_INPUT', `${file} is not a vt audit bundle: its first line is not a manifest`);
  }
  if (manifest?.format !== 'vt-audit-bundle')
    throw new VtError('BAD_INPUT', `${file} is not a vt audit bundle`);
  const eventLines = rest.filter((l) => l !== '');
  const events: StoredEvent[] = [];
  for (let i = 0; i < eventLines.length; i++) {
    try {
      events.push(JSON.parse(eventLines[i]!));
    } catch {
      return {
        ok: false,
        checked: i,
        projects: 0,
        heads: {},
        erasures: [],
        manifestOk: false,
        firstBad: { project_id: '?', seq: i + 1, reason: `line ${i + 2} is not JSON` },
      };
    }
  }
  const result = verifyEvents(events, manifest.heads);
  const body = eventLines.map((l) => `${l}\n`).join('');
  const manifestOk =
    sha256(body) === manifest.events_sha256 &&
    events.length === manifest.events &&
    Object.keys(result.heads).length === Object.keys(manifest.heads).length;
  if (result.ok && !manifestOk) {
    return {
      ...result,
      ok: false,
      manifestOk,
      firstBad: {
        project_id: '*',
        seq: 0,
        reason: 'the events do not match the manifest (count, digest or projects)',
      },
    };
  }
  return { ...result, manifestOk };
}
