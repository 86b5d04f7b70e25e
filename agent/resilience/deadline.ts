// Deadlines across hops, as pure functions: parse what callers sent, pick the strictest, and say what
// to send downstream (the remaining time, less what this hop already spent). Untrusted input can only
// shorten a request's own deadline: the effective deadline is a minimum, so a header cannot extend a
// route's timeout. Hostile values are rejected with a reason and ignored; nothing here throws.
//
// Formats accepted:
// - `grpc-timeout` (gRPC PROTOCOL-HTTP2.md): 1-8 ASCII digits then one unit, H M S m u n. "0" is read
//   as "already expired" (the spec says positive; grpc-go accepts 0 too).
// - `l5d-ctx-deadline` (Linkerd 1 `LinkerdHeaders.Ctx.Deadline`, Finagle `HttpDeadline`): two decimal
//   longs separated by one space, `<timestamp> <deadline>`, nanoseconds since the Unix epoch; the
//   timestamp is when the deadline was set. Several values (repeated or comma-joined headers) combine
//   to the strictest, as Linkerd 1 does. Wall clocks differ between hosts, so the time left is capped
//   at `deadline - timestamp` (the budget the sender granted): a receiver whose clock runs behind
//   cannot stretch it.
// - `weft-deadline` (weft to weft): the remaining time in whole milliseconds, 1-10 digits. Relative,
//   like grpc-timeout, so agents on different hosts need no clock agreement; the one error left is the
//   one-way network delay, which the sender cannot know and which is small next to any real timeout.
//   An absolute epoch value would silently shift every deadline by the hosts' clock skew.
import type { ParseResult } from './retry-policy.ts';

export const GRPC_TIMEOUT = 'grpc-timeout';
export const L5D_CTX_DEADLINE = 'l5d-ctx-deadline';
export const WEFT_DEADLINE = 'weft-deadline';

export type DeadlineHeader = typeof GRPC_TIMEOUT | typeof L5D_CTX_DEADLINE | typeof WEFT_DEADLINE;
export type DeadlineSource = 'context' | 'route' | DeadlineHeader;

// ---- grpc-timeout ----

const GRPC_UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['H', 3_600_000],
  ['M', 60_000],
  ['S', 1_000],
  ['m', 1],
  ['u', 1e-3],
  ['n', 1e-6],
]);
/** Finest first: format uses the finest unit whose value fits in 8 digits. */
const GRPC_UNITS_FINEST_FIRST: ReadonlyArray<readonly [string, number]> = [...GRPC_UNIT_MS].reverse();
const GRPC_MAX_VALUE = 99_999_999;
const GRPC_TIMEOUT_SYNTAX = /^([0-9]{1,8})([HMSmun])$/;

/** Longest value looked at: anything longer is refused before a regex sees it. */
const MAX_HEADER_CHARS = 128;

function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** HTTP strips optional whitespace (SP, HTAB) around field values; nothing else is trimmed. */
function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Milliseconds of a `grpc-timeout` value. */
export function parseGrpcTimeout(value: string): ParseResult<number> {
  if (value.length > MAX_HEADER_CHARS) return { kind: 'invalid', reason: `grpc-timeout: ${value.length} characters is too long` };
  const match = GRPC_TIMEOUT_SYNTAX.exec(trimOws(value));
  const digits = match?.[1];
  const unitMs = match?.[2] === undefined ? undefined : GRPC_UNIT_MS.get(match[2]);
  if (digits === undefined || unitMs === undefined) {
    return { kind: 'invalid', reason: `grpc-timeout: expected 1-8 digits and a unit (H M S m u n), got ${shown(value)}` };
  }
  return { kind: 'ok', value: Number(digits) * unitMs };
}

/**
 * The `grpc-timeout` value for `ms`, in the finest unit that fits 8 digits, rounded down so the
 * receiver never gets more time than we have. ≤ 0 gives `0n` (expired); beyond 99999999H, the max.
 */
export function formatGrpcTimeout(ms: number): string {
  if (!(ms > 0)) return '0n';
  for (const [unit, unitMs] of GRPC_UNITS_FINEST_FIRST) {
    // The small epsilon absorbs float error in ms / unit ("123n" is 0.000123 ms, / 1e-6 = 122.99999999999999).
    const value = Math.floor(ms / unitMs + 1e-6);
    if (value <= GRPC_MAX_VALUE) return `${value}${unit}`;
  }
  return `${GRPC_MAX_VALUE}H`;
}

// ---- l5d-ctx-deadline ----

export interface L5dDeadline {
  /** When the deadline was set, ns since the Unix epoch. */
  readonly timestampNs: bigint;
  /** When it expires, ns since the Unix epoch. */
  readonly deadlineNs: bigint;
}

const LONG_MAX = 2n ** 63n - 1n;
const L5D_SYNTAX = /^([0-9]{1,19}) ([0-9]{1,19})$/;

function parseOneL5d(value: string): ParseResult<L5dDeadline> {
  const match = L5D_SYNTAX.exec(trimOws(value));
  const ts = match?.[1];
  const dl = match?.[2];
  if (ts === undefined || dl === undefined) {
    return { kind: 'invalid', reason: `l5d-ctx-deadline: expected "<timestamp-ns> <deadline-ns>", got ${shown(value)}` };
  }
  const timestampNs = BigInt(ts);
  const deadlineNs = BigInt(dl);
  if (timestampNs > LONG_MAX || deadlineNs > LONG_MAX) return { kind: 'invalid', reason: `l5d-ctx-deadline: value beyond a signed 64-bit long in ${shown(value)}` };
  return { kind: 'ok', value: { timestampNs, deadlineNs } };
}

/**
 * One or more `l5d-ctx-deadline` values (repeated headers, or joined with commas), combined to the
 * strictest: earliest deadline, latest timestamp (Finagle `Deadline.combined`). Unreadable values are
 * skipped as Linkerd 1 does; if none is readable, the first reason is returned.
 */
export function parseL5dCtxDeadline(values: string | readonly string[]): ParseResult<L5dDeadline> {
  const all = typeof values === 'string' ? [values] : values;
  let combined: L5dDeadline | undefined;
  let firstProblem: string | undefined;
  let seen = 0;
  for (const joined of all) {
    if (joined.length > MAX_HEADER_CHARS * 4) {
      firstProblem ??= `l5d-ctx-deadline: ${joined.length} characters is too long`;
      continue;
    }
    for (const value of joined.split(',')) {
      if (++seen > 16) return { kind: 'invalid', reason: 'l5d-ctx-deadline: more than 16 values' };
      const parsed = parseOneL5d(value);
      if (parsed.kind === 'invalid') {
        firstProblem ??= parsed.reason;
        continue;
      }
      const d = parsed.value;
      combined =
        combined === undefined
          ? d
          : {
              timestampNs: d.timestampNs > combined.timestampNs ? d.timestampNs : combined.timestampNs,
              deadlineNs: d.deadlineNs < combined.deadlineNs ? d.deadlineNs : combined.deadlineNs,
            };
    }
  }
  if (combined !== undefined) return { kind: 'ok', value: combined };
  return { kind: 'invalid', reason: firstProblem ?? 'l5d-ctx-deadline: empty' };
}

export function formatL5dCtxDeadline(deadline: L5dDeadline): string {
  return `${deadline.timestampNs} ${deadline.deadlineNs}`;
}

/**
 * Time left on a Linkerd deadline at wall-clock `nowEpochMs`, capped at the budget the sender
 * granted (deadline - timestamp) so that clock skew between hosts can only shorten it.
 */
export function l5dRemainingMs(deadline: L5dDeadline, nowEpochMs: number): number {
  const byWallClock = Number(deadline.deadlineNs) / 1e6 - nowEpochMs;
  const granted = Number(deadline.deadlineNs - deadline.timestampNs) / 1e6;
  return Math.min(byWallClock, granted);
}

/** A Linkerd deadline that leaves `remainingMs` from wall-clock `nowEpochMs`. */
export function l5dDeadlineFor(remainingMs: number, nowEpochMs: number): L5dDeadline {
  const timestampNs = BigInt(Math.floor(nowEpochMs * 1e6));
  return { timestampNs, deadlineNs: timestampNs + BigInt(Math.floor(Math.max(0, remainingMs) * 1e6)) };
}

// ---- weft-deadline ----

const WEFT_SYNTAX = /^[0-9]{1,10}$/;
export const WEFT_DEADLINE_MAX_MS = 9_999_999_999;

export function parseWeftDeadline(value: string): ParseResult<number> {
  const trimmed = trimOws(value);
  if (value.length > MAX_HEADER_CHARS || !WEFT_SYNTAX.test(trimmed)) {
    return { kind: 'invalid', reason: `weft-deadline: expected the remaining milliseconds as 1-10 digits, got ${shown(value)}` };
  }
  return { kind: 'ok', value: Number(trimmed) };
}

/** Whole milliseconds, rounded down (never more time than we have), clamped to 10 digits. */
export function formatWeftDeadline(ms: number): string {
  if (!(ms > 0)) return '0';
  return String(Math.min(Math.floor(ms), WEFT_DEADLINE_MAX_MS));
}

// ---- the effective deadline and what to send on ----

export interface DeadlineParams {
  /** Total time for a request on a route, retries included. Linkerd ServiceProfile route timeout: 10 s. Undefined: none. */
  readonly routeTimeoutMs: number | undefined;
  /** Which incoming headers shorten the deadline. */
  readonly honour: Readonly<Record<DeadlineHeader, boolean>>;
  /** Which headers carry the remaining time downstream (grpc-timeout only on gRPC requests). */
  readonly propagate: Readonly<Record<DeadlineHeader, boolean>>;
}

// l5d-ctx-deadline is read (Linkerd 1 meshes may call in) but not written by default: nothing
// downstream of weft needs it, and weft-deadline carries the same information without clock skew.
export const deadlineParams: DeadlineParams = {
  routeTimeoutMs: 10_000,
  honour: { [GRPC_TIMEOUT]: true, [L5D_CTX_DEADLINE]: true, [WEFT_DEADLINE]: true },
  propagate: { [GRPC_TIMEOUT]: true, [L5D_CTX_DEADLINE]: false, [WEFT_DEADLINE]: true },
};

/** Raw header values as received (undefined when absent). */
export interface IncomingDeadlines {
  readonly [GRPC_TIMEOUT]?: string | undefined;
  readonly [L5D_CTX_DEADLINE]?: string | readonly string[] | undefined;
  readonly [WEFT_DEADLINE]?: string | undefined;
}

export interface DeadlineNow {
  /** The agent's monotonic clock (Clock.now()). */
  readonly now: number;
  /** Wall-clock ms since the Unix epoch, only for l5d-ctx-deadline. */
  readonly nowEpochMs: number;
  /** A deadline already on the call context (an outer layer's), absolute on the monotonic clock. */
  readonly contextDeadline?: number | undefined;
}

export interface InvalidDeadlineHeader {
  readonly header: DeadlineHeader;
  readonly reason: string;
}

export interface EffectiveDeadline {
  /** Absolute, on the monotonic clock; undefined when nothing bounds the request. */
  readonly deadline: number | undefined;
  /** What set it (the strictest source), for the error message and metrics. */
  readonly source: DeadlineSource | undefined;
  /** The timeout that source stated, in ms (for messages: "grpc-timeout 250 ms"). */
  readonly budgetMs: number | undefined;
  /** Headers that were present but unreadable; they were ignored. */
  readonly invalid: readonly InvalidDeadlineHeader[];
}

interface Strictest {
  deadline: number | undefined;
  source: DeadlineSource | undefined;
  budgetMs: number | undefined;
  invalid: InvalidDeadlineHeader[];
}

function tighten(state: Strictest, now: number, candidateMs: number, from: DeadlineSource): void {
  const budgetMs = Math.max(0, candidateMs);
  const candidate = now + budgetMs;
  if (state.deadline === undefined || candidate < state.deadline) {
    state.deadline = candidate;
    state.source = from;
    state.budgetMs = budgetMs;
  }
}

/** min(context deadline, route timeout, each honoured incoming deadline). */
export function effectiveDeadline(params: DeadlineParams, incoming: IncomingDeadlines, at: DeadlineNow): EffectiveDeadline {
  const context = at.contextDeadline;
  const state: Strictest = {
    deadline: context,
    source: context === undefined ? undefined : 'context',
    budgetMs: context === undefined ? undefined : Math.max(0, context - at.now),
    invalid: [],
  };
  if (params.routeTimeoutMs !== undefined) tighten(state, at.now, params.routeTimeoutMs, 'route');
  const grpc = incoming[GRPC_TIMEOUT];
  if (params.honour[GRPC_TIMEOUT] && grpc !== undefined) {
    const parsed = parseGrpcTimeout(grpc);
    if (parsed.kind === 'ok') tighten(state, at.now, parsed.value, GRPC_TIMEOUT);
    else state.invalid.push({ header: GRPC_TIMEOUT, reason: parsed.reason });
  }
  const l5d = incoming[L5D_CTX_DEADLINE];
  if (params.honour[L5D_CTX_DEADLINE] && l5d !== undefined) {
    const parsed = parseL5dCtxDeadline(l5d);
    if (parsed.kind === 'ok') tighten(state, at.now, l5dRemainingMs(parsed.value, at.nowEpochMs), L5D_CTX_DEADLINE);
    else state.invalid.push({ header: L5D_CTX_DEADLINE, reason: parsed.reason });
  }
  const weft = incoming[WEFT_DEADLINE];
  if (params.honour[WEFT_DEADLINE] && weft !== undefined) {
    const parsed = parseWeftDeadline(weft);
    if (parsed.kind === 'ok') tighten(state, at.now, parsed.value, WEFT_DEADLINE);
    else state.invalid.push({ header: WEFT_DEADLINE, reason: parsed.reason });
  }
  return state;
}

export type DownstreamDeadline =
  | { readonly kind: 'none' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'headers'; readonly remainingMs: number; readonly headers: ReadonlyArray<readonly [DeadlineHeader, string]> };

/**
 * What to tell the next hop, computed just before sending (so time spent here, retries and backoff
 * included, is already subtracted). `grpc` says whether the request is gRPC: grpc-timeout is only
 * meaningful there.
 */
export function downstreamDeadline(
  params: DeadlineParams,
  deadline: number | undefined,
  at: { readonly now: number; readonly nowEpochMs: number },
  grpc: boolean,
): DownstreamDeadline {
  if (deadline === undefined) return { kind: 'none' };
  const remainingMs = deadline - at.now;
  if (!(remainingMs > 0)) return { kind: 'expired' };
  const headers: Array<readonly [DeadlineHeader, string]> = [];
  if (params.propagate[GRPC_TIMEOUT] && grpc) headers.push([GRPC_TIMEOUT, formatGrpcTimeout(remainingMs)]);
  if (params.propagate[L5D_CTX_DEADLINE]) headers.push([L5D_CTX_DEADLINE, formatL5dCtxDeadline(l5dDeadlineFor(remainingMs, at.nowEpochMs))]);
  if (params.propagate[WEFT_DEADLINE]) headers.push([WEFT_DEADLINE, formatWeftDeadline(remainingMs)]);
  return { kind: 'headers', remainingMs, headers };
}
