// Trace context on the wire: W3C Trace Context (`traceparent`, `tracestate`) and Zipkin's B3, as
// one header (`b3`) or several (`x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`,
// `x-b3-sampled`, `x-b3-flags`). Parsing is total: a malformed value is never an exception, it is
// ignored (the caller then starts a new trace), as the W3C spec asks of a vendor that cannot parse
// a traceparent. The proxy writes its own span's context downstream in each format the request
// came with, and in W3C when it came with none (what OpenTelemetry SDKs read by default).
//
// References: https://www.w3.org/TR/trace-context/ (§3.2 traceparent, §3.3 tracestate) and
// https://github.com/openzipkin/b3-propagation.
import type { HttpHeaders } from '../../proxy/http/headers.ts';
import type { TraceContext } from './trace-context.ts';
import { isValidSpanId, isValidTraceId } from './trace-context.ts';

export type PropagationFormat = 'w3c' | 'b3-single' | 'b3-multi';

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';
export const B3 = 'b3';
export const X_B3_TRACE_ID = 'x-b3-traceid';
export const X_B3_SPAN_ID = 'x-b3-spanid';
export const X_B3_PARENT_SPAN_ID = 'x-b3-parentspanid';
export const X_B3_SAMPLED = 'x-b3-sampled';
export const X_B3_FLAGS = 'x-b3-flags';

const B3_MULTI = [X_B3_TRACE_ID, X_B3_SPAN_ID, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_FLAGS] as const;

/** What a request carried: the caller's span (our parent), or only a sampling decision, or nothing usable. */
export type Incoming =
  | {
    readonly kind: 'parent';
    readonly parent: TraceContext;
    readonly from: PropagationFormat;
    /** A 64-bit B3 trace id (padded to 128 bits in `parent`). */
    readonly shortTraceId: boolean;
    /** B3 without a sampling state: the caller left the decision to us (`parent.sampled` is a placeholder). */
    readonly deferred: boolean;
  }
  | { readonly kind: 'decision'; readonly sampled: boolean; readonly debug: boolean }
  | { readonly kind: 'none' };

/** The formats present on a request (by header name, parsed or not), in the order we prefer them. */
export function formatsOf(headers: HttpHeaders): PropagationFormat[] {
  const formats: PropagationFormat[] = [];
  if (headers.has(TRACEPARENT)) formats.push('w3c');
  if (headers.has(B3)) formats.push('b3-single');
  if (headers.has(X_B3_TRACE_ID) || headers.has(X_B3_SPAN_ID) || headers.has(X_B3_SAMPLED) || headers.has(X_B3_FLAGS)) formats.push('b3-multi');
  return formats;
}

/** The caller's context: the first format that parses (W3C, then b3, then x-b3-*), else a bare sampling decision, else none. */
export function extract(headers: HttpHeaders): Incoming {
  let decision: Incoming = { kind: 'none' };
  const w3c = parseW3c(headers.getAll(TRACEPARENT), headers.getAll(TRACESTATE));
  if (w3c !== undefined) return { kind: 'parent', parent: w3c, from: 'w3c', shortTraceId: false, deferred: false };
  const single = headers.getAll(B3);
  if (single.length === 1) {
    const b3 = parseB3Single(single[0] as string);
    if (b3?.kind === 'parent') return b3;
    if (b3 !== undefined) decision = b3;
  }
  const multi = parseB3Multi(headers);
  if (multi?.kind === 'parent') return multi;
  if (multi !== undefined && decision.kind === 'none') decision = multi;
  return decision;
}

// ---- W3C ----

const TRACEPARENT_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// A later version: at least the version-00 fields, then (if longer) "-" and whatever it adds.
const TRACEPARENT_NEXT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** A traceparent value, or undefined when it is malformed (then tracestate is ignored too, §3.3). */
export function parseTraceparent(value: string): { traceId: string; spanId: string; flags: number } | undefined {
  const text = value.trim();
  let m = TRACEPARENT_00.exec(text);
  let traceId: string, spanId: string, flags: string;
  if (m !== null) {
    [, traceId = '', spanId = '', flags = ''] = m;
  } else {
    m = TRACEPARENT_NEXT.exec(text);
    // Version 00 must be exactly 55 characters; "ff" is forbidden.
    if (m === null || m[1] === '00' || m[1] === 'ff') return undefined;
    [, , traceId = '', spanId = '', flags = ''] = m;
  }
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

// key = simple-key / multi-tenant-key; value = 0-255 printable ASCII except "," and "=", not ending in a space.
const TRACESTATE_MEMBER = /^(?:[a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const TRACESTATE_MAX_MEMBERS = 32;

/** tracestate fields joined into one list, or undefined when absent or malformed (§3.3.1: then it is not propagated). */
export function parseTracestate(values: readonly string[]): string | undefined {
  if (values.length === 0) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const member = raw.trim();
      if (member === '') continue;
      if (!TRACESTATE_MEMBER.test(member)) return undefined;
      const key = member.slice(0, member.indexOf('='));
      if (keys.has(key)) return undefined;
      keys.add(key);
      members.push(member);
    }
  }
  if (members.length === 0 || members.length > TRACESTATE_MAX_MEMBERS) return undefined;
  return members.join(',');
}

function parseW3c(traceparents: readonly string[], tracestates: readonly string[]): TraceContext | undefined {
  // Two traceparent fields cannot be told apart: neither is believed.
  if (traceparents.length !== 1) return undefined;
  const parsed = parseTraceparent(traceparents[0] as string);
  if (parsed === undefined) return undefined;
  return { traceId: parsed.traceId, spanId: parsed.spanId, sampled: (parsed.flags & 1) === 1, debug: false, traceState: parseTracestate(tracestates) };
}

export function formatTraceparent(cx: TraceContext): string {
  return `00-${cx.traceId}-${cx.spanId}-${cx.sampled ? '01' : '00'}`;
}

// ---- B3 ----

const HEX_16_OR_32 = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;

/** A B3 trace id (16 or 32 hex digits, either case) as 32 digits, and whether it was the short form. */
function b3TraceId(value: string): { id: string; short: boolean } | undefined {
  const lower = value.toLowerCase();
  if (!HEX_16_OR_32.test(lower)) return undefined;
  const id = lower.length === 16 ? `${'0'.repeat(16)}${lower}` : lower;
  return isValidTraceId(id) ? { id, short: lower.length === 16 } : undefined;
}

function b3SpanId(value: string): string | undefined {
  const lower = value.toLowerCase();
  return isValidSpanId(lower) ? lower : undefined;
}

/** `{traceid}-{spanid}[-{sampling}[-{parentspanid}]]`, or a sampling state alone (`0`, `1`, `d`). */
export function parseB3Single(value: string): Incoming | undefined {
  const text = value.trim();
  const sampling = (state: string | undefined): { sampled: boolean; debug: boolean } | undefined | 'defer' => {
    if (state === undefined) return 'defer';
    if (state === '1') return { sampled: true, debug: false };
    if (state === '0') return { sampled: false, debug: false };
    if (state === 'd') return { sampled: true, debug: true };
    return undefined;
  };
  const parts = text.split('-');
  if (parts.length === 1) {
    const s = sampling(parts[0]);
    return s === undefined || s === 'defer' ? undefined : { kind: 'decision', ...s };
  }
  if (parts.length > 4) return undefined;
  const traceId = b3TraceId(parts[0] as string);
  const spanId = b3SpanId(parts[1] as string);
  if (traceId === undefined || spanId === undefined) return undefined;
  const s = sampling(parts[2]);
  if (s === undefined) return undefined;
  if (parts[3] !== undefined && b3SpanId(parts[3]) === undefined) return undefined;
  const deferred = s === 'defer';
  const { sampled, debug } = deferred ? { sampled: false, debug: false } : s;
  return { kind: 'parent', from: 'b3-single', shortTraceId: traceId.short, deferred, parent: { traceId: traceId.id, spanId, sampled, debug, traceState: undefined } };
}

export function parseB3Multi(headers: HttpHeaders): Incoming | undefined {
  const one = (name: string): string | undefined | null => {
    const all = headers.getAll(name);
    if (all.length > 1) return null;
    return all[0]?.trim();
  };
  const flags = one(X_B3_FLAGS);
  const sampledText = one(X_B3_SAMPLED);
  if (flags === null || sampledText === null) return undefined;
  const debug = flags === '1';
  let sampled: boolean | undefined;
  if (sampledText === '1' || sampledText?.toLowerCase() === 'true') sampled = true;
  else if (sampledText === '0' || sampledText?.toLowerCase() === 'false') sampled = false;
  else if (sampledText !== undefined) return undefined;
  const traceText = one(X_B3_TRACE_ID);
  const spanText = one(X_B3_SPAN_ID);
  if (traceText === undefined && spanText === undefined) {
    if (debug) return { kind: 'decision', sampled: true, debug: true };
    return sampled === undefined ? undefined : { kind: 'decision', sampled, debug: false };
  }
  if (traceText === null || spanText === null || traceText === undefined || spanText === undefined) return undefined;
  const traceId = b3TraceId(traceText);
  const spanId = b3SpanId(spanText);
  if (traceId === undefined || spanId === undefined) return undefined;
  const parent = one(X_B3_PARENT_SPAN_ID);
  if (parent === null || (parent !== undefined && b3SpanId(parent) === undefined)) return undefined;
  return {
    kind: 'parent', from: 'b3-multi', shortTraceId: traceId.short, deferred: !debug && sampled === undefined,
    parent: { traceId: traceId.id, spanId, sampled: debug || sampled === true, debug, traceState: undefined },
  };
}

function b3TraceIdText(cx: TraceContext, short: boolean): string {
  // A 64-bit id came in: write it back as 64 bits, so Zipkin v1 tooling downstream sees the same id.
  return short && cx.traceId.startsWith('0000000000000000') ? cx.traceId.slice(16) : cx.traceId;
}

export function formatB3Single(cx: TraceContext, parentSpanId: string | undefined, short = false): string {
  const state = cx.debug ? 'd' : cx.sampled ? '1' : '0';
  return `${b3TraceIdText(cx, short)}-${cx.spanId}-${state}${parentSpanId === undefined ? '' : `-${parentSpanId}`}`;
}

/** Every propagation header, so a forwarded request carries our context and nothing stale. */
export function clearContext(headers: HttpHeaders): void {
  headers.delete(TRACEPARENT).delete(TRACESTATE).delete(B3);
  for (const name of B3_MULTI) headers.delete(name);
}

/**
 * Writes `cx` (the proxy's span) in each of `formats`; `parentSpanId` is the caller's span, which
 * B3 carries alongside. Any propagation header already there is replaced.
 */
export function inject(headers: HttpHeaders, cx: TraceContext, formats: readonly PropagationFormat[], parentSpanId: string | undefined, shortTraceId = false): void {
  clearContext(headers);
  for (const format of formats) {
    switch (format) {
      case 'w3c':
        headers.addTrusted(TRACEPARENT, formatTraceparent(cx));
        if (cx.traceState !== undefined) headers.addTrusted(TRACESTATE, cx.traceState);
        break;
      case 'b3-single':
        headers.addTrusted(B3, formatB3Single(cx, parentSpanId, shortTraceId));
        break;
      case 'b3-multi':
        headers.addTrusted(X_B3_TRACE_ID, b3TraceIdText(cx, shortTraceId));
        headers.addTrusted(X_B3_SPAN_ID, cx.spanId);
        if (parentSpanId !== undefined) headers.addTrusted(X_B3_PARENT_SPAN_ID, parentSpanId);
        // Debug implies sampled, and B3 says not to send both.
        if (cx.debug) headers.addTrusted(X_B3_FLAGS, '1');
        else headers.addTrusted(X_B3_SAMPLED, cx.sampled ? '1' : '0');
        break;
    }
  }
}
