import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/** The dashboard's built files, read once into memory (with gzip copies), served by exact path only. */
export interface StaticAssets {
  respond(path: string, acceptEncoding: string): Response;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/**
 * Load `dir` (web/dist). Only files found at start-up are served — a path is a key in a map, never
 * joined onto the file system — and any other path gets index.html, for the client-side router.
 */
export function loadAssets(dir: string): StaticAssets | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const files = new Map<string, { body: Buffer; gz: Buffer | null; type: string; immutable: boolean }>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        const body = readFileSync(full);
        const type = TYPES[extname(name)] ?? 'application/octet-stream';
        const gz = /^(text|application\/json|image\/svg)/.test(type) ? gzipSync(body, { level: 9 }) : null;
        const rel = `/${relative(dir, full).split(sep).join('/')}`;
        files.set(rel, { body, gz, type, immutable: rel.startsWith('/assets/') });
      }
    }
  };
  walk(dir);
  const index = files.get('/index.html')!;
  return {
    respond(path, acceptEncoding) {
      const f = files.get(path) ?? index;
      const headers: Record<string, string> = {
        'content-type': f.type,
        'cache-control': f.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        vary: 'accept-encoding',
      };
      if (f === index) headers['content-security-policy'] = CSP;
      if (f.gz && /\bgzip\b/.test(acceptEncoding)) {
        headers['content-encoding'] = 'gzip';
        return new Response(new Uint8Array(f.gz), { headers });
      }
      return new Response(new Uint8Array(f.body), { headers });
    },
  };
}
