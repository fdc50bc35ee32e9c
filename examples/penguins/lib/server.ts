import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ModelFile, predict } from './model.ts';
import { MEASUREMENTS, type Penguin } from './penguins.ts';

/** A running scoring service. */
export interface ScoringServer {
  url: string;
  close(): Promise<void>;
}

/** Largest request body accepted, in bytes. */
const MAX_BODY = 16_384;

/** Read a request body as text, refusing oversized ones. */
async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Check a /score request body and turn it into a penguin (sex unknown, set to a placeholder). */
export function parseScoreRequest(body: unknown): Penguin {
  if (typeof body !== 'object' || body === null) throw new Error('body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const k of ['species', 'island'] as const) {
    if (typeof b[k] !== 'string' || !b[k]) throw new Error(`${k} must be a non-empty string`);
  }
  for (const m of MEASUREMENTS) {
    if (typeof b[m] !== 'number' || !Number.isFinite(b[m])) throw new Error(`${m} must be a finite number`);
  }
  return {
    id: 0,
    species: b.species as string,
    island: b.island as string,
    bill_length_mm: b.bill_length_mm as number,
    bill_depth_mm: b.bill_depth_mm as number,
    flipper_length_mm: b.flipper_length_mm as number,
    body_mass_g: b.body_mass_g as number,
    sex: 'female',
  };
}

/** Serve POST /score (JSON measurements to P(male)) and GET /health on 127.0.0.1 at a free port. */
export async function startScoringServer(
  model: ModelFile,
  version: string,
  confidenceCut = 0.9,
): Promise<ScoringServer> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/health') return send(200, { status: 'ok', version });
    if (req.method !== 'POST' || req.url !== '/score') return send(404, { error: 'not found' });
    readBody(req)
      .then((text) => {
        const bird = parseScoreRequest(JSON.parse(text));
        const p = predict(model, [bird])[0]!;
        const confident = p >= confidenceCut || p <= 1 - confidenceCut;
        send(200, { probability_male: p, sex: p >= 0.5 ? 'male' : 'female', confident, version });
      })
      .catch((err: Error) => send(400, { error: err.message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
