// One error base for all of weft: a stable `code` callers can branch on (undici's UND_ERR_*), and
// Finagle-style failure flags that tell the request path what may be done about it.

export interface FailureFlags {
  /** Safe to try again (on another endpoint, after backoff): nothing reached the application. */
  readonly retryable?: boolean;
  /** Refused by weft itself (shedding, open breaker, budget) rather than failed upstream. */
  readonly rejected?: boolean;
  /** Cancelled: the caller went away or a deadline expired. */
  readonly interrupted?: boolean;
}

export interface WeftErrorOptions {
  readonly cause?: unknown;
  readonly flags?: FailureFlags;
}

export class WeftError extends Error {
  /** Stable identifier, `WEFT_E_<AREA>_<WHAT>`; messages may change, codes do not. */
  readonly code: string;
  readonly flags: FailureFlags;

  constructor(code: string, message: string, options: WeftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeftError';
    this.code = code;
    this.flags = options.flags ?? {};
  }
}

export function isWeftError(value: unknown): value is WeftError {
  return value instanceof WeftError;
}

/** The message of anything thrown, for logs and status pages. */
export function describeError(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
