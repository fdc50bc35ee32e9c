import type { Db, Trx } from './store.ts';

/** Remember what a key was first used for. */
export async function rememberRequest(
  trx: Trx,
  row: { project_id: string; key: string; request: string; seq: number },
): Promise<void> {
  await trx
    .insertInto('idempotency_requests')
    .values(row)
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
