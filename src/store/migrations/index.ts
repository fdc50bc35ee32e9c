import type { Migration, MigrationProvider } from 'kysely/migration';
import * as m001 from './001_core.ts';
import * as m002 from './002_autopilot.ts';
import * as m003 from './003_sessions.ts';
import * as m004 from './004_global_order.ts';
import * as m005 from './005_visit_evidence.ts';
import * as m006 from './006_session_processes.ts';
import * as m007 from './007_idempotency.ts';
import * as m008 from './008_drop_gate_evaluations.ts';
import * as m010 from './010_merkle_log.ts';
import * as m015 from './015_passkey_bindings.ts';
import * as m025 from './025_postgres_guards.ts';
import * as m026 from './026_claim_order.ts';
import * as m027 from './027_snapshots.ts';
import * as m028 from './028_worker_wake.ts';
import * as m035 from './035_api_tokens.ts';
import * as m036 from './036_passkeys.ts';
import * as m037 from './037_dashboard_indexes.ts';
import * as m038 from './038_phase_since.ts';
import * as m045 from './045_integrations.ts';
import * as m050 from './050_operating_status.ts';
import * as m051 from './051_scheduled_visits.ts';
import * as m060 from './060_erasure_guard.ts';
import * as m072 from './072_train_format.ts';
import * as m073 from './073_merkle_state_from_nodes.ts';

/** Numbered migrations, listed statically so a bundle or a type-stripped run finds them all. */
export const MIGRATIONS: Record<string, Migration> = {
  '001_core': m001,
  '002_autopilot': m002,
  '003_sessions': m003,
  '004_global_order': m004,
  '005_visit_evidence': m005,
  '006_session_processes': m006,
  '007_idempotency': m007,
  '008_drop_gate_evaluations': m008,
  '010_merkle_log': m010,
  '015_passkey_bindings': m015,
  '035_api_tokens': m035,
  '036_passkeys': m036,
  '037_dashboard_indexes': m037,
  '038_phase_since': m038,
  '045_integrations': m045,
  '025_postgres_guards': m025,
  '026_claim_order': m026,
  '027_snapshots': m027,
  '028_worker_wake': m028,
  '050_operating_status': m050,
  '051_scheduled_visits': m051,
  '060_erasure_guard': m060,
  '072_train_format': m072,
  '073_merkle_state_from_nodes': m073,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
