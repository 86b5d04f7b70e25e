// When may a request be sent again? The pure half of retries: classify what happened to one attempt,
// and decide whether to retry, after how long, given the route's conditions, the request's method
// and body, the retries already made and the deadline. The budget (shared by the route) is asked
// separately by the layer, only once this says yes.
//
// Safe by default (linkerd#2035: retries of bodies and non-idempotent requests):
// - nothing was written (connect refused, HTTP/2 REFUSED_STREAM): retryable for every method, and at
//   once, to another endpoint (Finagle requeues these with no backoff): the server never saw it;
// - a 5xx, a reset after writing, a per-try timeout: retryable only for idempotent methods
//   (RFC 9110 §9.2.2: GET HEAD OPTIONS TRACE PUT DELETE; method names are case-sensitive);
// - a body larger than 64 KiB, or of unknown length, is never retried (it is not held for replay);
// - at most 1 retry per request. Linkerd 2 retries nothing until a route asks (HTTPRoute/GRPCRoute
//   annotations `retry.linkerd.io/*`); once it does, the limit defaults to 1 (linkerd2 policy
//   controller `limit.unwrap_or(1)`, and the proxy's `l5d-retry-limit` default). weft retries the
//   safe cases above without being asked, with that same limit, under the budget.
// A route may widen (all methods, more statuses, gRPC codes) or narrow (no statuses, no timeouts).
import type { Exclusion } from '../balance/pick.ts';
import type { Random } from '../balance/random.ts';
import { isWeftError, WeftError } from '../errors.ts';
import type { BackoffParams } from './backoff.ts';
import { backoffDelay, retryBackoffParams, validateBackoffParams } from './backoff.ts';

export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/** What happened to one attempt. */
export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number; readonly grpcStatus?: number | undefined }
  /** Nothing of the request reached the server: connect failed, stream refused. */
  | { readonly kind: 'not-sent' }
  /** The request was (partly) written, then the connection failed before a response. */
  | { readonly kind: 'failed-after-write' }
  /** The per-try timeout elapsed. */
  | { readonly kind: 'timeout' }
  /** Never retried: the caller left, the deadline passed, or weft itself refused (shed, no endpoints). */
  | { readonly kind: 'fatal' };

export type StatusRange = readonly [min: number, max: number];

export interface RetryConditions {
  /** Response statuses that may be retried (subject to `methods`). */
  readonly statuses: readonly StatusRange[];
  /**
   * gRPC status codes that may be retried. Listing a code is the route owner's statement that the
   * call is safe to repeat (gRPC methods are all POST, so `methods` does not gate these).
   */
  readonly grpcCodes: readonly number[];
  /** Which methods 5xx, resets and timeouts may be retried for. */
  readonly methods: 'idempotent' | 'any';
  /** Retry when the per-try timeout elapses. */
  readonly onTimeout: boolean;
  /** Retry a connection failure after the request was written. */
  readonly onReset: boolean;
}

export const retryConditions: RetryConditions = {
  statuses: [[500, 599]],
  grpcCodes: [],
  methods: 'idempotent',
  onTimeout: true,
  onReset: true,
};

export interface RetryPolicyParams {
  /** Retries per request (attempts = 1 + this). Linkerd 2 HTTPRoute `retry.linkerd.io/limit`: 1. 0 disables. */
  readonly maxRetries: number;
  readonly conditions: RetryConditions;
  /** Wait before a retry of something the server saw. linkerd2-proxy: 25 ms → 250 ms, jitter 1. */
  readonly backoff: BackoffParams;
  /**
   * Time allowed for one attempt, distinct from the total (the deadline). Undefined: only the
   * deadline bounds an attempt. Linkerd 2 `retry.linkerd.io/timeout` has no default either.
   */
  readonly perTryTimeoutMs: number | undefined;
  /** Largest request body held for replay. linkerd2-proxy: 64 KiB. */
  readonly maxBodyBytes: number;
}

export const retryPolicyParams: RetryPolicyParams = {
  maxRetries: 1,
  conditions: retryConditions,
  backoff: retryBackoffParams,
  perTryTimeoutMs: undefined,
  maxBodyBytes: 64 * 1024,
};

/** What the policy needs to know about the request. */
export interface RetryRequest {
  readonly method: string;
  /** Whole body size once known (0 for none); undefined while unknown (streaming, no length). */
  readonly bodyBytes: number | undefined;
}

export type Classification = 'success' | 'retryable' | 'not-retryable' | 'not-idempotent';

export type NoRetryReason =
  | 'success'
  | 'not-retryable'
  | 'not-idempotent'
  | 'body-too-large'
  | 'body-unknown'
  | 'limit'
  | 'deadline';

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number }
  | { readonly retry: false; readonly reason: NoRetryReason };

export interface RetryInput {
  readonly request: RetryRequest;
  readonly result: AttemptResult;
  /** Retries already made for this request (0 after the first attempt). */
  readonly retries: number;
  readonly now: number;
  /** Absolute deadline on the same clock, if any. */
  readonly deadline: number | undefined;
}

export function validateRetryPolicyParams(params: RetryPolicyParams): void {
  const problems: string[] = [];
  if (!(Number.isInteger(params.maxRetries) && params.maxRetries >= 0)) problems.push(`maxRetries must be a non-negative integer, got ${params.maxRetries}`);
  if (!(params.maxBodyBytes >= 0)) problems.push(`maxBodyBytes must be non-negative, got ${params.maxBodyBytes}`);
  if (params.perTryTimeoutMs !== undefined && !(params.perTryTimeoutMs > 0)) problems.push(`perTryTimeoutMs must be positive, got ${params.perTryTimeoutMs}`);
  for (const [min, max] of params.conditions.statuses) {
    if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 100 && max <= 599 && min <= max)) problems.push(`bad status range ${min}-${max}`);
  }
  if (problems.length > 0) throw new WeftError('WEFT_E_RESILIENCE_PARAMS', `retry policy: ${problems.join('; ')}`);
  validateBackoffParams(params.backoff);
}

export class RetryPolicy {
  readonly params: RetryPolicyParams;
  readonly #random: Random;

  constructor(params: RetryPolicyParams, random: Random) {
    validateRetryPolicyParams(params);
    this.params = params;
    this.#random = random;
  }

  classify(request: RetryRequest, result: AttemptResult): Classification {
    const conditions = this.params.conditions;
    const methodOk = conditions.methods === 'any' || isIdempotent(request.method);
    switch (result.kind) {
      case 'not-sent':
        return 'retryable';
      case 'fatal':
        return 'not-retryable';
      case 'timeout':
        if (!conditions.onTimeout) return 'not-retryable';
        return methodOk ? 'retryable' : 'not-idempotent';
      case 'failed-after-write':
        if (!conditions.onReset) return 'not-retryable';
        return methodOk ? 'retryable' : 'not-idempotent';
      case 'response': {
        const grpc = result.grpcStatus;
        if (grpc !== undefined && grpc !== 0) return conditions.grpcCodes.includes(grpc) ? 'retryable' : 'not-retryable';
        if (!inRanges(result.status, conditions.statuses)) return result.status >= 500 ? 'not-retryable' : 'success';
        return methodOk ? 'retryable' : 'not-idempotent';
      }
    }
  }

  decide(input: RetryInput): RetryDecision {
    const classification = this.classify(input.request, input.result);
    if (classification !== 'retryable') return { retry: false, reason: classification };
    const bodyBytes = input.request.bodyBytes;
    if (bodyBytes === undefined) return { retry: false, reason: 'body-unknown' };
    if (bodyBytes > this.params.maxBodyBytes) return { retry: false, reason: 'body-too-large' };
    if (input.retries >= this.params.maxRetries) return { retry: false, reason: 'limit' };
    const delayMs = input.result.kind === 'not-sent' ? 0 : backoffDelay(this.params.backoff, input.retries, this.#random);
    if (input.deadline !== undefined && input.now + delayMs >= input.deadline) return { retry: false, reason: 'deadline' };
    return { retry: true, delayMs };
  }
}

function inRanges(status: number, ranges: readonly StatusRange[]): boolean {
  for (const [min, max] of ranges) if (status >= min && status <= max) return true;
  return false;
}

// Node's connect errors that mean the SYN never got an answer we could write to.
const NOT_SENT_ERRNOS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Default mapping of a thrown error to an attempt result. WeftError flags decide first (retryable
 * = nothing reached the application; interrupted or rejected = never retried); raw connect errnos
 * count as not sent; anything else is a failure after writing (retried only where that is safe).
 */
export function classifyError(error: unknown): AttemptResult {
  if (isWeftError(error)) {
    if (error.code === 'WEFT_E_RESILIENCE_TRY_TIMEOUT') return { kind: 'timeout' };
    if (error.flags.interrupted === true || error.flags.rejected === true) return { kind: 'fatal' };
    if (error.flags.retryable === true) return { kind: 'not-sent' };
    return { kind: 'failed-after-write' };
  }
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && NOT_SENT_ERRNOS.has(error.code)) {
    return { kind: 'not-sent' };
  }
  if (error instanceof Error && error.name === 'AbortError') return { kind: 'fatal' };
  return { kind: 'failed-after-write' };
}

/**
 * The endpoints one request has tried, in order (the balancer avoids them on a retry). A request
 * tries at most a handful, so a small array beats a Set here.
 */
export class TriedEndpoints implements Exclusion {
  readonly #keys: string[] = [];

  has(key: string): boolean {
    return this.#keys.includes(key);
  }

  add(key: string): void {
    if (!this.#keys.includes(key)) this.#keys.push(key);
  }

  get size(): number {
    return this.#keys.length;
  }

  /** The endpoint of the latest attempt. */
  get last(): string | undefined {
    return this.#keys[this.#keys.length - 1];
  }

  keys(): readonly string[] {
    return this.#keys;
  }
}

// ---- Route configuration in Linkerd's annotation syntax (retry.linkerd.io/http, /grpc) ----

export type ParseResult<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'invalid'; readonly reason: string };

/**
 * `5xx`, `gateway-error` (502-504), `429`, `500-504`, comma-separated (linkerd2 policy controller
 * `parse_http_retry`). Empty means "no status is retried".
 */
export function parseRetryStatuses(text: string): ParseResult<StatusRange[]> {
  const ranges: StatusRange[] = [];
  if (text.trim() === '') return { kind: 'ok', value: ranges };
  for (const raw of text.split(',')) {
    const item = raw.trim().toLowerCase();
    if (item === '5xx') ranges.push([500, 599]);
    else if (item === 'gateway-error') ranges.push([502, 504]);
    else {
      const match = /^(\d{3})(?:-(\d{3}))?$/.exec(item);
      const min = match?.[1] === undefined ? Number.NaN : Number(match[1]);
      const max = match?.[2] === undefined ? min : Number(match[2]);
      if (!(min >= 100 && max <= 599 && min <= max)) return { kind: 'invalid', reason: `not a status, range, 5xx or gateway-error: ${JSON.stringify(raw.trim().slice(0, 40))}` };
      ranges.push([min, max]);
    }
  }
  return { kind: 'ok', value: ranges };
}

/** gRPC status codes by name (A Map, not an object: `constructor` must not look like a code). */
export const GRPC_CODES: ReadonlyMap<string, number> = new Map([
  ['ok', 0],
  ['cancelled', 1],
  ['unknown', 2],
  ['invalid-argument', 3],
  ['deadline-exceeded', 4],
  ['not-found', 5],
  ['already-exists', 6],
  ['permission-denied', 7],
  ['resource-exhausted', 8],
  ['failed-precondition', 9],
  ['aborted', 10],
  ['out-of-range', 11],
  ['unimplemented', 12],
  ['internal', 13],
  ['unavailable', 14],
  ['data-loss', 15],
  ['unauthenticated', 16],
]);

/** `unavailable, resource-exhausted` or `UNAVAILABLE` or `14`, comma-separated. */
export function parseGrpcCodes(text: string): ParseResult<number[]> {
  const codes: number[] = [];
  if (text.trim() === '') return { kind: 'ok', value: codes };
  for (const raw of text.split(',')) {
    const item = raw.trim().toLowerCase().replaceAll('_', '-');
    const code = /^\d{1,2}$/.test(item) ? Number(item) : GRPC_CODES.get(item);
    if (code === undefined || code < 1 || code > 16) return { kind: 'invalid', reason: `not a gRPC error code: ${JSON.stringify(raw.trim().slice(0, 40))}` };
    codes.push(code);
  }
  return { kind: 'ok', value: codes };
}
