import { Agent, request } from 'node:http';

/** A keep-alive JSON client for the scoring service; destroy() frees its sockets. */
export function jsonClient(baseUrl: string): {
  post(path: string, body: unknown): Promise<{ status: number; body: unknown; ms: number }>;
  get(path: string): Promise<{ status: number; body: unknown; ms: number }>;
  destroy(): void;
} {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: unknown; ms: number }>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const start = performance.now();
      const req = request(
        new URL(path, baseUrl),
        { method, agent, headers: payload ? { 'content-type': 'application/json' } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - start;
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
              ms,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return {
    post: (path, body) => send('POST', path, body),
    get: (path) => send('GET', path),
    destroy: () => agent.destroy(),
  };
}

/** Nearest-rank percentile (p in 0-100) of a list of numbers. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}
