// Limits and timers of the HTTP/2 transport, with their defaults beside them. Every server limit
// bounds memory or work one peer can make weft spend on a session; most are handed to nghttp2 (which
// enforces them per frame, in C), and the rest are counted here (rapid reset, preface and idle timers).
import { WeftError } from '../../errors.ts';

export interface Http2ServerParams {
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS we advertise; nghttp2 refuses streams past it (REFUSED_STREAM).
   * 250 is Go's x/net/http2 server default: room for a busy gRPC channel, while one session cannot
   * hold more than a bounded number of upstream calls at once (RFC 9113 §5.1.2 suggests ≥ 100).
   */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (uncompressed, RFC 9113 §6.5.2); a bigger header block gets RST_STREAM(ENHANCE_YOUR_CALM). */
  readonly maxHeaderListSize: number;
  /** Most fields in one header block (Node's maxHeaderListPairs); more → the stream is refused. */
  readonly maxHeaderListPairs: number;
  /** Protocol-invalid frames a session may send before it is closed (Node's maxSessionInvalidFrames). */
  readonly maxSessionInvalidFrames: number;
  /** Streams we refused (over the concurrency limit, bad headers) before the session is closed. */
  readonly maxSessionRejectedStreams: number;
  /** PINGs in flight unanswered; nghttp2 also closes a session whose PING/SETTINGS ACKs pile up (flood detection). */
  readonly maxOutstandingPings: number;
  /** Entries in one SETTINGS frame; more is a SETTINGS flood and closes the session. */
  readonly maxSettings: number;
  /** nghttp2's own token bucket for incoming RST_STREAM (both must be set): burst and refill per second. */
  readonly streamResetBurst: number;
  readonly streamResetRate: number;
  /**
   * Rapid reset (CVE-2023-44487): streams the client resets before their response is complete,
   * counted per window. Above the bound the session gets GOAWAY(ENHANCE_YOUR_CALM) and is closed.
   * Node already refuses streams past maxConcurrentStreams while their closes are pending and closes
   * the session after maxSessionRejectedStreams (a flood in one write ends there), and nghttp2's
   * bucket above refills 33/s; this bound catches the flood paced under the concurrency limit (a
   * legitimate client cancelling 50 calls a second for ten seconds is rare).
   */
  readonly maxClientResetsPerWindow: number;
  readonly clientResetWindowMs: number;
  /** Memory nghttp2 may hold for the session, in MB (Node's maxSessionMemory); new streams are refused past it. */
  readonly maxSessionMemoryMb: number;
  /** The client preface and its SETTINGS must arrive within this (the HTTP/1.1 header timeout's counterpart). */
  readonly prefaceTimeoutMs: number;
  /** A session with no open stream this long is closed with GOAWAY(NO_ERROR). */
  readonly idleTimeoutMs: number;
}

export const http2ServerParams: Http2ServerParams = {
  maxConcurrentStreams: 250,
  maxHeaderListSize: 64 * 1024,
  maxHeaderListPairs: 128,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  maxOutstandingPings: 10,
  maxSettings: 32,
  streamResetBurst: 1000,
  streamResetRate: 33,
  maxClientResetsPerWindow: 500,
  clientResetWindowMs: 10_000,
  maxSessionMemoryMb: 10,
  prefaceTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
};

export function validateHttp2ServerParams(params: Http2ServerParams): void {
  for (const [name, value] of Object.entries(params) as [keyof Http2ServerParams, number][]) {
    if (!(Number.isSafeInteger(value) && value >= 1)) {
      throw new WeftError('WEFT_E_HTTP2_PARAMS', `http2 server ${name} must be a positive integer, got ${value}`);
    }
  }
  if (params.maxConcurrentStreams > 2 ** 31 - 1 || params.maxHeaderListSize > 2 ** 31 - 1) {
    throw new WeftError('WEFT_E_HTTP2_PARAMS', 'http2 server maxConcurrentStreams and maxHeaderListSize must fit a SETTINGS value (< 2^31)');
  }
}

export interface Http2PoolParams {
  /** A session with no open stream this long is closed (GOAWAY NO_ERROR), below typical server idle timeouts. */
  readonly idleTimeoutMs: number;
  /** A connect (TCP and the session's preface) that has not completed in this long fails, retryable. */
  readonly connectTimeoutMs: number;
  /** Streams assumed allowed on a new session until the server's SETTINGS say otherwise (Node's default is 100). */
  readonly initialMaxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we accept from upstreams. */
  readonly maxHeaderListSize: number;
  /** Memory nghttp2 may hold per upstream session, in MB. */
  readonly maxSessionMemoryMb: number;
}

export const http2PoolParams: Http2PoolParams = {
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  initialMaxConcurrentStreams: 100,
  maxHeaderListSize: 64 * 1024,
  maxSessionMemoryMb: 10,
};

export function validateHttp2PoolParams(params: Http2PoolParams): void {
  for (const [name, value] of Object.entries(params) as [keyof Http2PoolParams, number][]) {
    if (!(Number.isSafeInteger(value) && value >= 1)) {
      throw new WeftError('WEFT_E_HTTP2_PARAMS', `http2 pool ${name} must be a positive integer, got ${value}`);
    }
  }
}
