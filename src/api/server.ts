import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Tickets } from '../engine/ticket-ops.ts';
import { VtError } from '../errors.ts';
import type { IntegrationsConfig } from '../integrations/config.ts';
import { PACKAGE_ROOT } from '../package.ts';
import { openStore } from '../store/store.ts';
import { type AuditOptions, openVt } from '../wiring.ts';
import { createApp } from './app.ts';
import type { ApiDeps } from './deps.ts';
import { Feed, notifyWake, type WakeSource } from './feed.ts';
import { hostPolicy } from './guard.ts';
import { Passkeys } from './passkeys.ts';
import { loadAssets } from './static.ts';

export interface ServeOptions {
  db: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Extra host names (with no port) the server answers to, e.g. behind a local proxy. */
  allowHosts?: string[];
  passkeys?: 'required' | 'optional';
  /** The built dashboard (web/dist); null serves the API alone. */
  assetsDir?: string | null;
  /** What wakes live streams; default: PostgreSQL's notifications, or polling the head position (SQLite). */
  wake?: (reader: ApiDeps['reader']) => WakeSource;
  version: string;
  now?: () => Date;
  /** Webhooks and MLflow of the project folder: their outbox rules commit with the server's events. */
  integrations?: IntegrationsConfig;
  /** Where the Merkle log's checkpoints go after the server's commits (approvals made here included). */
  audit?: AuditOptions | null;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_ASSETS = join(PACKAGE_ROOT, 'web', 'dist');

/** Open the store twice (the engine's writer, and a reader that sees only committed data) and listen. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const vt = await openVt(o.db, {
    ...(o.integrations ? { integrations: o.integrations } : {}),
    ...(o.audit ? { audit: o.audit } : {}),
  });
  const readStore = await openStore(o.db);
  const now = o.now ?? (() => new Date());
  const feed = new Feed(o.wake ? o.wake(readStore.db) : notifyWake(readStore));
  const deps: ApiDeps = {
    engine: vt.engine,
    tickets: new Tickets(vt.engine),
    reader: readStore.db,
    feed,
    passkeys: new Passkeys(readStore.db, vt.store, now),
    passkeyPolicy: o.passkeys ?? 'optional',
    now,
    version: o.version,
  };
  const assets = o.assetsDir === null ? null : loadAssets(o.assetsDir ?? DEFAULT_ASSETS);
  // The host policy needs the port, which is known only once listening: check against a holder.
  const policy = { hosts: new Set<string>() };
  const app = createApp(deps, { hosts: policy, assets });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: o.host, port: o.port }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new VtError('BAD_INPUT', `cannot listen on ${o.host}:${o.port}: ${err.code ?? err.message}`, {
          hint: err.code === 'EADDRINUSE' ? 'Choose another --port' : undefined,
        }),
      ),
    );
  });
  const port = (server.address() as AddressInfo).port;
  policy.hosts = hostPolicy(o.host, port, o.allowHosts).hosts;
  const shown =
    o.host === '127.0.0.1' || o.host === '::1' ? 'localhost' : o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: async () => {
      feed.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await readStore.close();
      await vt.close();
    },
  };
}
