import type { Engine } from '../engine/engine.ts';
import type { Tickets } from '../engine/ticket-ops.ts';
import type { Db } from '../store/store.ts';
import type { Feed } from './feed.ts';
import type { Passkeys } from './passkeys.ts';

/** Everything a route may use: the engine (the only writer), a read connection, the live feed. */
export interface ApiDeps {
  engine: Engine;
  tickets: Tickets;
  /** A separate connection that sees only committed data: lists, pages and streams read from it. */
  reader: Db;
  feed: Feed;
  passkeys: Passkeys;
  /** `required`: every decision made through the API must be confirmed with a passkey. */
  passkeyPolicy: 'required' | 'optional';
  now(): Date;
  version: string;
}
