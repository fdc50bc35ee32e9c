import { coerceError, ERROR_CODES, type ErrorCode, VtError } from '../errors.ts';
import { redact, stripControl } from '../redact.ts';

/** The JSON body of every error the API returns: the same shape `vt --json` prints. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; hint: string | null; details: Record<string, unknown> | null };
}

/** Map anything thrown to an HTTP status and an error body, once, for every route. */
export function toHttpError(err: unknown): { status: number; body: ErrorBody } {
  const e = coerceError(err);
  const v = e instanceof VtError ? e : null;
  const code: ErrorCode = v?.code ?? 'INTERNAL';
  // A negative verdict is a 200 answer for the CLI's exit codes; as a refused request it is a conflict.
  const http = ERROR_CODES[code].http === 200 ? 409 : ERROR_CODES[code].http;
  return {
    status: http,
    body: {
      error: {
        code,
        message: v ? redact(stripControl(v.message)) : 'internal error; the server log has the details',
        hint: v?.hint ? redact(v.hint) : null,
        details: v?.details ?? null,
      },
    },
  };
}
