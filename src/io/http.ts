import type { HttpExchange } from '../gates/types.ts';

/** The most of a response body a gate reads (MLflow answers are small JSON documents). */
const MAX_BODY = 8 << 20;

/**
 * HTTP for gates on this machine: fetch with a timeout, no redirects followed (a redirect could carry
 * the token elsewhere), the body read as text up to MAX_BODY. Network failures throw; the gate says
 * `error`.
 */
export function nodeHttp(env: Record<string, string | undefined> = process.env): HttpExchange {
  return {
    async request(req) {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(req.timeoutMs),
      });
      const reader = res.body?.getReader();
      const chunks: Uint8Array[] = [];
      let size = 0;
      if (reader)
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          size += value.length;
          if (size > MAX_BODY) {
            await reader.cancel();
            throw new Error(`the answer is larger than ${MAX_BODY} bytes`);
          }
          chunks.push(value);
        }
      return { status: res.status, body: Buffer.concat(chunks).toString('utf8') };
    },
    env: (name) => env[name],
  };
}
