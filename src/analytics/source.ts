import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';
import type { EventRow } from './facts.ts';

/*
 * The queries analytics runs: named, read-only, each one statement. Events are read a page at a
 * time in (project_id, seq) order, the events table's primary key, so one project's events arrive
 * together and no more than a page is held at once.
 */

export type ReadDb = Kysely<DB>;

/** Which projects' events to read: all, or those of one team (null: projects without a team). */
export type ProjectFilter = { all: true } | { team: string | null };

export interface ProjectRow {
  id: string;
  team: string | null;
  created_at: string;
}

/** Every project's id, team and creation time. */
export function projectIndex(db: ReadDb): Promise<ProjectRow[]> {
  return db.selectFrom('projects').select(['id', 'team', 'created_at']).orderBy('id').execute();
}

/** Every stored train body, by content hash. */
export function trainBodies(db: ReadDb): Promise<{ hash: string; body: string }[]> {
  return db.selectFrom('trains').select(['hash', 'body']).execute();
}

/** One page of events after (project, seq), in (project_id, seq) order. */
export function eventPage(
  db: ReadDb,
  filter: ProjectFilter,
  after: { project: string; seq: number } | null,
  limit: number,
): Promise<EventRow[]> {
  let q = db.selectFrom('events').select(['project_id', 'seq', 'ts', 'actor', 'type', 'payload']);
  if ('team' in filter) {
    const team = filter.team;
    q = q.where('project_id', 'in', (eb) => {
      const ids = eb.selectFrom('projects').select('id');
      return team === null ? ids.where('team', 'is', null) : ids.where('team', '=', team);
    });
  }
  // A row-value comparison, so the primary key is searched, not scanned from the start each page.
  if (after)
    q = q.where((eb) => eb(eb.refTuple('project_id', 'seq'), '>', eb.tuple(after.project, after.seq)));
  return q.orderBy('project_id').orderBy('seq').limit(limit).execute();
}

/** Each project's events, one project at a time, read in pages of `pageSize` rows. */
export async function* projectsEvents(
  db: ReadDb,
  filter: ProjectFilter,
  pageSize = 5000,
): AsyncGenerator<EventRow[]> {
  let after: { project: string; seq: number } | null = null;
  let current: EventRow[] = [];
  for (;;) {
    const page = await eventPage(db, filter, after, pageSize);
    for (const row of page) {
      if (current.length && current[0]!.project_id !== row.project_id) {
        yield current;
        current = [];
      }
      current.push(row);
    }
    if (page.length < pageSize) break;
    const last = page[page.length - 1]!;
    after = { project: last.project_id, seq: last.seq };
  }
  if (current.length) yield current;
}
