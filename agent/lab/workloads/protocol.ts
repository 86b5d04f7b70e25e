// The JSON lines the lab workloads write to stdout (and the client reads from stdin). Types only:
// the workloads run as plain .ts files on Node 24 and import nothing but node: modules and this
// (the gRPC ones also @grpc/grpc-js).

/** How a TCP connection ended, as seen by the side that reports it. */
export type ConnectionEnd = 'end' | 'reset' | 'error' | 'timeout';

export type EchoServerEvent =
  | { readonly event: 'listening'; readonly address: string; readonly port: number }
  | {
      readonly event: 'connection';
      readonly id: number;
      /** The peer as the server's kernel saw it: proves which source IP a connection came from. */
      readonly remoteAddress: string;
      readonly remotePort: number;
      readonly localAddress: string;
      readonly localPort: number;
    }
  | {
      readonly event: 'closed';
      readonly id: number;
      readonly bytesIn: number;
      readonly bytesOut: number;
      readonly how: ConnectionEnd;
      readonly errorCode: string | null;
    };

/** One connection for the client to make. */
export interface ClientCommand {
  readonly id: number;
  readonly op: 'connect';
  readonly host: string;
  readonly port: number;
  /** Bytes to send after connecting, base64. */
  readonly data: string;
  /** Half-close (FIN) after sending, then read until the peer ends; otherwise wait for the peer to end. */
  readonly halfClose: boolean;
  readonly timeoutMs: number;
}

export type ClientEvent =
  | { readonly event: 'ready'; readonly pid: number }
  | {
      readonly event: 'result';
      readonly id: number;
      readonly connected: boolean;
      readonly localAddress: string | null;
      readonly localPort: number | null;
      readonly remoteAddress: string | null;
      readonly remotePort: number | null;
      /** What came back, base64. */
      readonly received: string;
      readonly how: ConnectionEnd;
      readonly errorCode: string | null;
      readonly durationMs: number;
    }
  | { readonly event: 'bad-command'; readonly line: string; readonly message: string };

// ---- HTTP workloads: http-server.ts and http-client.ts ----

/** `http/1.1` is node:http; `h2` is HTTP/2 over cleartext with prior knowledge (h2c, no Upgrade). */
export type HttpProtocol = 'http/1.1' | 'h2';

/**
 * The server's behaviour for every request (set over stdin or with
 * `POST /_control`): `ok` answers as the request scripts it; the others override its script: `fail` answers `status` (default 503);
 * `reset` aborts each request; `hang` never answers. `delayMs` is added before every head.
 */
export interface HttpServerMode {
  readonly mode: 'ok' | 'fail' | 'reset' | 'hang';
  readonly status?: number;
  readonly delayMs?: number;
}

export type HttpServerEvent =
  | { readonly event: 'listening'; readonly address: string; readonly port: number; readonly h2cPort: number }
  | {
      readonly event: 'connection';
      readonly connection: number;
      readonly protocol: HttpProtocol;
      readonly remoteAddress: string;
      readonly remotePort: number;
      readonly localAddress: string;
      readonly localPort: number;
    }
  | {
      /** The head of a request arrived (written before the body is read or anything is answered). */
      readonly event: 'request';
      readonly id: number;
      readonly connection: number;
      readonly protocol: HttpProtocol;
      readonly method: string;
      /** Path with query, as sent. */
      readonly path: string;
      readonly authority: string;
      /** Every request header, names lowercased, repeated ones joined with ", " (h2 pseudo-headers included). */
      readonly headers: Readonly<Record<string, string>>;
      readonly remoteAddress: string;
      readonly remotePort: number;
      /** Wall clock (ms since the epoch) when the head arrived. */
      readonly at: number;
    }
  | {
      /** The exchange ended: answered in full, reset by the server, or abandoned by the client. */
      readonly event: 'request-end';
      readonly id: number;
      /** The status sent, or null when no head was sent. */
      readonly status: number | null;
      readonly bodyBytes: number;
      /** sha256 (hex) of the request body as received. */
      readonly sha256: string;
      /** The request body ended (the client sent all of it). */
      readonly bodyComplete: boolean;
      /** The client went away (closed or reset) before the response was complete. */
      readonly aborted: boolean;
      /** The server reset the request on purpose (`reset=` or mode `reset`). */
      readonly reset: boolean;
      readonly responseBytes: number;
      readonly responseSha256: string;
      readonly durationMs: number;
    }
  | { readonly event: 'mode'; readonly id: number; readonly mode: HttpServerMode }
  | { readonly event: 'bad-command'; readonly line: string; readonly message: string };

export type HttpServerCommand = { readonly op: 'mode'; readonly id: number; readonly mode: HttpServerMode };

/** One request for the http-client workload to make. */
export interface HttpRequestSpec {
  readonly protocol: HttpProtocol;
  readonly host: string;
  readonly port: number;
  readonly method: string;
  /** Path with query. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Request body, base64; empty for none. */
  readonly body: string;
  /** Instead of `body`: this many generated bytes (0: none). */
  readonly bodyBytes: number;
  /** The client gives up (and reports `timeout`) after this long. */
  readonly timeoutMs: number;
  /** A fresh connection for this request instead of the pooled keep-alive (h1) or session (h2) one. */
  readonly newConnection: boolean;
}

/** How an HTTP exchange ended for the client. */
export type HttpOutcome = 'complete' | 'reset' | 'timeout' | 'error';

export interface HttpResponseReport {
  readonly protocol: HttpProtocol;
  /** Null when no response head arrived. */
  readonly status: number | null;
  /** Response headers, names lowercased, repeated ones joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly trailers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  /** sha256 (hex) of the body received. */
  readonly sha256: string;
  /** The first 64 KiB of the body, base64. */
  readonly body: string;
  readonly how: HttpOutcome;
  readonly errorCode: string | null;
  readonly errorMessage: string | null;
  /** From sending to the head, and to the end (or failure). */
  readonly headMs: number | null;
  readonly latencyMs: number;
  /** When each body chunk arrived, ms after sending (at most 1000 kept). */
  readonly chunkMs: readonly number[];
  readonly localAddress: string | null;
  readonly localPort: number | null;
}

export interface HttpLoadSummary {
  readonly planned: number;
  readonly sent: number;
  /** Not sent because `maxInFlight` requests were outstanding at their slot. */
  readonly skipped: number;
  readonly completed: number;
  /** Count by status code ("200", "503") and by failure ("reset", "timeout", "error"). */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly durationMs: number;
  /** Requests sent per second over the load's duration. */
  readonly sentRps: number;
  /** Responses (any status) per second over the time until the last one ended. */
  readonly completedRps: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
}

export type HttpClientCommand =
  | { readonly op: 'request'; readonly id: number; readonly request: HttpRequestSpec }
  | {
      /** Open loop: request `n` is sent at start + n / rate, whatever happened to earlier ones. */
      readonly op: 'load';
      readonly id: number;
      readonly request: HttpRequestSpec;
      readonly rate: number;
      readonly durationMs: number;
      readonly maxInFlight: number;
      /** Also one `load-response` line per response. */
      readonly each: boolean;
    };

export type HttpClientEvent =
  | { readonly event: 'ready'; readonly pid: number }
  | ({ readonly event: 'response'; readonly id: number } & HttpResponseReport)
  | {
      readonly event: 'load-response';
      readonly id: number;
      readonly seq: number;
      readonly status: number | null;
      readonly how: HttpOutcome;
      readonly latencyMs: number;
      /** ms after the load started. */
      readonly sentMs: number;
    }
  | ({ readonly event: 'load-summary'; readonly id: number } & HttpLoadSummary)
  | { readonly event: 'bad-command'; readonly line: string; readonly message: string };

// ---- gRPC workloads: grpc-server.ts and grpc-client.ts (service weft.lab.Echo, JSON messages) ----

export const GRPC_ECHO_SERVICE = 'weft.lab.Echo';
export type GrpcMethod = 'Unary' | 'ServerStream' | 'ClientStream' | 'Bidi';

/** The request message (JSON on the wire). Every field is optional. */
export interface GrpcEchoRequest {
  readonly message?: string;
  /** End the call with this status code (and `details`) instead of OK. */
  readonly status?: number;
  readonly details?: string;
  /** Wait this long before answering (Unary, ClientStream) or before each message (ServerStream). */
  readonly delayMs?: number;
  /** ServerStream: how many messages to send. */
  readonly count?: number;
  /** Padding bytes in each reply. */
  readonly bytes?: number;
}

export interface GrpcEchoReply {
  readonly message: string;
  readonly index: number;
  /** The client address the server saw. */
  readonly peer: string;
  readonly padding?: string;
}

/**
 * The gRPC server's behaviour for every call, set over stdin: with `code` set, every call ends
 * with that status (after its messages) whatever it asks; `delayMs` is added before every answer.
 */
export interface GrpcServerMode {
  readonly code?: number;
  readonly details?: string;
  readonly delayMs?: number;
}

export type GrpcServerCommand = { readonly op: 'mode'; readonly id: number; readonly mode: GrpcServerMode };

export type GrpcServerEvent =
  | { readonly event: 'listening'; readonly address: string; readonly port: number }
  | { readonly event: 'mode'; readonly id: number; readonly mode: GrpcServerMode }
  | { readonly event: 'bad-command'; readonly line: string; readonly message: string }
  | {
      readonly event: 'call';
      readonly id: number;
      readonly method: GrpcMethod;
      /** Request metadata as the app sees it (grpc-js drops grpc-timeout; see grpcTimeout, deadlineMs). */
      readonly metadata: Readonly<Record<string, string>>;
      readonly peer: string;
      /** Time left until the call's deadline when it arrived (from grpc-timeout), or null for none. */
      readonly deadlineMs: number | null;
      /** The grpc-timeout header as it arrived (e.g. "2999m"), or null for none. */
      readonly grpcTimeout: string | null;
      readonly at: number;
    }
  | {
      readonly event: 'call-end';
      readonly id: number;
      readonly code: number;
      readonly details: string;
      readonly messagesIn: number;
      readonly messagesOut: number;
      /** The client cancelled, or the deadline passed, before the server finished. */
      readonly cancelled: boolean;
      readonly durationMs: number;
    };

export type GrpcCallKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

export interface GrpcClientCommand {
  readonly op: 'call';
  readonly id: number;
  readonly call: GrpcCallKind;
  /** host:port */
  readonly target: string;
  /** Unary and ServerStream send the first; ClientStream and Bidi send them all, then half-close. */
  readonly requests: readonly GrpcEchoRequest[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Relative deadline (sent as grpc-timeout), or null for none. */
  readonly deadlineMs: number | null;
  /** A fresh channel (and connection) for this call. */
  readonly newChannel: boolean;
}

export interface GrpcCallReport {
  readonly code: number;
  readonly details: string;
  readonly messages: readonly GrpcEchoReply[];
  /** Response headers and trailers (metadata), repeated values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly trailers: Readonly<Record<string, string>>;
  readonly latencyMs: number;
}

export type GrpcClientEvent =
  | { readonly event: 'ready'; readonly pid: number }
  | ({ readonly event: 'result'; readonly id: number } & GrpcCallReport)
  | { readonly event: 'bad-command'; readonly line: string; readonly message: string };
