/** Every expected failure is a VtError with a stable code; the edges map codes to exit codes and statuses. */
export const ERROR_CODES = {
  BAD_INPUT: { exit: 2, http: 400 },
  USAGE: { exit: 2, http: 400 },
  TRAIN_INVALID: { exit: 2, http: 422 },
  NOT_FOUND: { exit: 2, http: 404 },
  CONFLICT: { exit: 2, http: 409 },
  INVALID_STATE: { exit: 2, http: 409 },
  PATH_ESCAPE: { exit: 2, http: 400 },
  UNAUTHENTICATED: { exit: 4, http: 401 },
  NOT_PERMITTED: { exit: 4, http: 403 },
  GATE_FAILED: { exit: 1, http: 200 },
  VERIFY_FAILED: { exit: 1, http: 200 },
  STORE_ERROR: { exit: 3, http: 500 },
  /** The store file is empty, truncated or corrupt: restore a backup or import an audit export. */
  STORE_DAMAGED: { exit: 3, http: 500 },
  /** No space left on a device (SQLITE_FULL, ENOSPC): nothing was half-written; free space and run again. */
  DISK_FULL: { exit: 5, http: 507 },
  INTERRUPTED: { exit: 130, http: 499 },
  INTERNAL: { exit: 3, http: 500 },
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export class VtError extends Error {
  readonly code: ErrorCode;
  /** The exact next command or fix to suggest, shown after the message. */
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; details?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'VtError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

/** Coerce anything thrown into an Error, so the edges never print `[object Object]`. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(JSON.stringify(err));
  } catch {
    return new Error(String(err));
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof VtError ? ERROR_CODES[err.code].exit : 3;
}
