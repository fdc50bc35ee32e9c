import { redact } from '../redact.ts';
import type { Db, Trx } from './store.ts';

/** Remember what a key was first used for (a command line may hold a secret: it is redacted). */
export async function rememberRequest(
  trx: Trx,
  row: { project_id: string; key: string; request: string; seq: number },
): Promise<void> {
  await trx
    .insertInto('idempotency_requests')
    .values({ ...row, request: redact(row.request) })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** What a key was first used for, if it was recorded. */
export async function requestOf(db: Db | Trx, projectId: string, key: string): Promise<string | null> {
  const row = await db
    .selectFrom('idempotency_requests')
    .select('request')
    .where('project_id', '=', projectId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.request ?? null;
}

/** Whether a request is the one stored for its key (stored redacted, so compared both ways). */
export function sameRequestText(stored: string, given: string): boolean {
  return stored === given || stored === redact(given);
}
