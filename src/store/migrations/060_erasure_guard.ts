import { type Kysely, sql } from 'kysely';
import { isPostgres } from '../dialect.ts';
import { createEventGuards } from '../dialects/sqlite.ts';

/**
 * Events stay append-only with one audited exception: erasing a payload. An UPDATE passes only when
 * the new payload is an erasure marker (`{"erased_by_seq":N,"residue":{…}}`) naming an `event.erased`
 * event of the same project, later in its chain, that names this event; every other column is
 * unchanged, so the chain (which covers payload_sha256) still verifies; and the payload was not
 * erased already. Every other UPDATE, every DELETE and TRUNCATE are refused as before.
 *
 * SQLite: the triggers are re-created with that condition (dialects/sqlite.ts). PostgreSQL: the
 * trigger function of migration 025 is replaced. The application role (`vt db app-role`) still has
 * no UPDATE on events at all, so on PostgreSQL an erasure is made as the owner of the vt tables:
 * the rare, audited edit takes the stronger credential, and the second lock stays whole.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isPostgres(db)) {
    await createEventGuards(db, true);
    return;
  }
  await sql`create or replace function vt_events_append_only() returns trigger language plpgsql as $$
    declare
      m jsonb;
    begin
      if tg_op = 'UPDATE'
        and (new.project_id, new.seq, new.ts, new.actor, new.type, new.payload_sha256, new.prev_hash, new.hash)
          = (old.project_id, old.seq, old.ts, old.actor, old.type, old.payload_sha256, old.prev_hash, old.hash)
        and new.idempotency_key is not distinct from old.idempotency_key
        and new.gseq is not distinct from old.gseq
        and left(new.payload, 17) = '{"erased_by_seq":'
        and left(old.payload, 17) <> '{"erased_by_seq":'
      then
        begin
          m := new.payload::jsonb;
        exception when others then
          m := null;
        end;
        if m is not null and jsonb_typeof(m) = 'object'
          and jsonb_typeof(m -> 'erased_by_seq') = 'number'
          and jsonb_typeof(m -> 'residue') = 'object'
          and (select count(*) from jsonb_object_keys(m)) = 2
          and exists (select 1 from events x
            where x.project_id = new.project_id
              and x.seq = (m ->> 'erased_by_seq')::bigint and x.seq > new.seq
              and x.type = 'event.erased'
              and (x.payload::jsonb ->> 'seq')::bigint = new.seq)
        then
          return new;
        end if;
      end if;
      raise exception 'events are append-only' using errcode = 'insufficient_privilege';
    end $$`.execute(db);
}
