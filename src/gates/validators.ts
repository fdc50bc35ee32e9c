import { createRequire } from 'node:module';
import type { z } from 'zod';
import type { ValidatorSpec } from '../train/schema.ts';

// zod is loaded only when a JSON Schema validator runs: every CLI call loads the gates, few need it.
const requireZod = () => (createRequire(import.meta.url)('zod') as typeof import('zod')).z;

/** Check an artifact's content against one validator; returns the problem, or null when it holds. */
export function validateContent(v: ValidatorSpec, size: number, text: string | undefined): string | null {
  switch (v.kind) {
    case 'max-size':
      return size > v.bytes ? `${size} bytes is over the limit of ${v.bytes}` : null;
    case 'csv-columns': {
      if (text === undefined) return 'too large to read for column checks';
      const header = parseCsvHeader(text);
      const missing = v.columns.filter((c) => !header.includes(c));
      return missing.length ? `CSV lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : null;
    }
    case 'json-schema': {
      if (text === undefined) return 'too large to read for schema checks';
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (err) {
        return `not JSON: ${(err as Error).message}`;
      }
      let schema: z.ZodType;
      try {
        const zod = requireZod();
        schema = zod.fromJSONSchema(v.schema as Parameters<typeof zod.fromJSONSchema>[0]);
      } catch (err) {
        return `the schema cannot be used: ${(err as Error).message}`;
      }
      const r = schema.safeParse(data);
      if (r.success) return null;
      const first = r.error.issues[0]!;
      return `does not match its JSON Schema at ${first.path.join('.') || '(root)'}: ${first.message}`;
    }
  }
}

/** The first record of a CSV file, honouring quotes. */
export function parseCsvHeader(text: string): string[] {
  const cols: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      cols.push(cur.trim());
      cur = '';
    } else if (ch === '\n' || ch === '\r') break;
    else cur += ch;
  }
  cols.push(cur.trim());
  return cols.map((c) => c.replace(/^\uFEFF/, ''));
}
