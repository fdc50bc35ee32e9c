import type { Db, Trx } from './store.ts';

/** A person's passkeys (registered through the dashboard), each with where it was made and its binding, if any. */
export async function passkeysOf(db: Db | Trx, person: string) {
  return db
    .selectFrom('passkeys as p')
    .leftJoin('passkey_bindings as b', 'b.credential_id', 'p.credential_id')
    .select([
      'p.credential_id',
      'p.public_key',
      'p.label',
      'p.created_at',
      'b.rp_id',
      'b.binding',
      'b.person as bound_to',
    ])
    .where('p.person', '=', person)
    .orderBy('p.created_at')
    .execute();
}

/** The binding stored for a passkey (JSON text), or null. */
export async function bindingOf(db: Db | Trx, credentialId: string): Promise<string | null> {
  const row = await db
    .selectFrom('passkey_bindings')
    .select('binding')
    .where('credential_id', '=', credentialId)
    .executeTakeFirst();
  return row?.binding ?? null;
}

/** Note the relying party a new passkey was registered for (no binding yet). */
export async function notePasskeyOrigin(
  trx: Trx,
  row: { credential_id: string; person: string; rp_id: string; created_at: string },
): Promise<void> {
  await trx
    .insertInto('passkey_bindings')
    .values({ ...row, binding: null })
    .onConflict((oc) => oc.column('credential_id').doNothing())
    .execute();
}

/** Keep a person's signed binding of their passkey (a newer one replaces an older, e.g. after a key rotation). */
export async function saveBinding(
  trx: Trx,
  row: { credential_id: string; person: string; rp_id: string; binding: string; created_at: string },
): Promise<void> {
  await trx
    .insertInto('passkey_bindings')
    .values(row)
    .onConflict((oc) =>
      oc.column('credential_id').doUpdateSet({
        binding: row.binding,
        person: row.person,
        rp_id: row.rp_id,
        created_at: row.created_at,
      }),
    )
    .execute();
}
