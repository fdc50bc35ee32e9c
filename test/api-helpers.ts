import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../src/api/server.ts';
import { createToken, type Grant } from '../src/api/tokens.ts';
import { loadTrainFile } from '../src/train/loader.ts';
import { freshEngine, writeFile } from './helpers.ts';

/** A store with the mini train, a live `vt serve` on a free port, and a way to mint tokens. */
export async function servedStore(
  opts: { passkeys?: 'required' | 'optional'; assets?: boolean; trainText?: string } = {},
) {
  const fresh = await freshEngine();
  // Another train (e.g. one that lists people's keys) in place of the mini one.
  const f = opts.trainText
    ? (() => {
        writeFileSync(join(fresh.dir, 'vt.yaml'), opts.trainText);
        return { ...fresh, train: loadTrainFile(join(fresh.dir, 'vt.yaml')) };
      })()
    : fresh;
  const server = await startServer({
    db: f.target,
    host: '127.0.0.1',
    port: 0,
    passkeys: opts.passkeys ?? 'optional',
    ...(opts.assets ? {} : { assetsDir: null }),
    version: 'test',
  });
  const base = `http://127.0.0.1:${server.port}`;
  const token = async (person: string, ...grants: Grant[]) =>
    (await createToken(f.store, { person, grants, by: 'test' }, new Date())).token;
  const call = async (
    method: string,
    path: string,
    tok: string | null,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(tok ? { authorization: `Bearer ${tok}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON the server sent
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, json, text, headers: res.headers };
  };
  return { ...f, server, base, token, call };
}

/** Carry the mini project "churn" to where triage waits only for an approval; lab-1 did the work. */
export async function triageAwaitingApproval(
  f: Awaited<ReturnType<typeof servedStore>>,
  id = 'churn',
  team = 'growth',
) {
  await f.engine.createProject(
    { id, name: `Project ${id}`, team, workspace: f.dir, train: f.train },
    { actor: 'lead-1' },
  );
  for (const item of ['asked', 'sized']) await f.engine.tick(id, item, null, { actor: 'lab-1' });
  writeFile(f.dir, 'docs/brief.md', '# Brief\n');
  await f.engine.addArtifact(id, 'brief', undefined, { actor: 'lab-1' });
}

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/**
 * Read server-sent events until `stop(events)` holds (or `limitMs` passes), then disconnect.
 * Returns everything received.
 */
export async function readSse(
  url: string,
  headers: Record<string, string>,
  stop: (events: SseEvent[]) => boolean,
  limitMs = 30_000,
): Promise<SseEvent[]> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), limitMs);
  const out: SseEvent[] = [];
  try {
    const res = await fetch(url, { headers, signal: ctl.signal });
    if (res.status !== 200) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let at: number;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const e: SseEvent = { id: null, event: 'message', data: '' };
        let any = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          if (k === 'id') e.id = v;
          if (k === 'event') e.event = v;
          if (k === 'data') e.data += v;
          any = true;
        }
        if (any) out.push(e);
      }
      if (stop(out)) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
  return out;
}

export const dbBytes = (dir: string) => readFileSync(join(dir, '.vt', 'vt.db'));
