import type { Db } from './store.ts';

/** Remember the process a session's executor runs as. */
export async function registerSessionProcess(
  db: Db,
  row: {
    session: string;
    project_id: string;
    actor: string;
    pid: number;
    start: number;
    host: string;
    created_at: string;
  },
): Promise<void> {
  await db
    .insertInto('session_processes')
    .values(row)
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Forget a session's processes (its executor ended). */
export async function forgetSessionProcesses(db: Db, session: string): Promise<void> {
  await db.deleteFrom('session_processes').where('session', '=', session).execute();
}

/** The session whose executor is among these processes (this process's ancestors), if any. */
export async function sessionOfProcesses(
  db: Db,
  host: string,
  processes: readonly { pid: number; start: number }[],
): Promise<{ session: string; project_id: string; actor: string } | null> {
  if (!processes.length) return null;
  const rows = await db
    .selectFrom('session_processes')
    .select(['session', 'project_id', 'actor', 'pid', 'start'])
    .where('host', '=', host)
    .where(
      'pid',
      'in',
      processes.map((p) => p.pid),
    )
    .execute();
  const hit = rows.find((r) => processes.some((p) => p.pid === r.pid && p.start === r.start));
  return hit ? { session: hit.session, project_id: hit.project_id, actor: hit.actor } : null;
}
