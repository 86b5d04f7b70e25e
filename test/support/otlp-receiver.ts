// A stand-in OpenTelemetry collector: an OTLP/HTTP receiver on 127.0.0.1 that decodes every
// ExportTraceServiceRequest it is posted (protobufjs, the agent's vendored OTLP schema) and keeps
// the spans. It can answer slowly (never, until closed), with a chosen status, or reject spans
// (partial success), to test what the exporter does when the collector misbehaves.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { otlpTypes } from '../../agent/telemetry/tracing/otlp-proto.ts';

export type AttributeValue = string | number | boolean;

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly flags: number;
  readonly name: string;
  /** Span.SpanKind number (3: client). */
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** Status.StatusCode number (0 unset, 1 ok, 2 error). */
  readonly status: { readonly code: number; readonly message: string };
  readonly resource: Readonly<Record<string, AttributeValue>>;
  readonly scope: { readonly name: string; readonly version: string };
}

export interface ReceivedPost {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly spans: readonly ReceivedSpan[];
}

/** How the receiver answers a post. */
export type ReceiverMode =
  | { readonly kind: 'ok' }
  | { readonly kind: 'never' }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  | { readonly kind: 'reject'; readonly count: number };

interface AnyValueObject {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
}
interface KeyValueObject { key: string; value?: AnyValueObject }

function attributesOf(list: readonly KeyValueObject[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    if (value?.stringValue !== undefined) out[key] = value.stringValue;
    else if (value?.boolValue !== undefined) out[key] = value.boolValue;
    else if (value?.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value?.doubleValue !== undefined) out[key] = value.doubleValue;
  }
  return out;
}

/** Decodes one ExportTraceServiceRequest body into its spans (ids as hex, times as bigint). */
export function decodeExportRequest(body: Uint8Array): ReceivedSpan[] {
  const type = otlpTypes().exportRequest;
  const message = type.toObject(type.decode(body), { longs: String, bytes: String, defaults: true }) as {
    resourceSpans: Array<{
      resource?: { attributes?: KeyValueObject[] };
      scopeSpans: Array<{
        scope?: { name: string; version: string };
        spans: Array<{
          traceId: string; spanId: string; parentSpanId: string; traceState: string; flags: number; name: string; kind: number;
          startTimeUnixNano: string; endTimeUnixNano: string; attributes: KeyValueObject[]; status?: { code: number; message: string };
        }>;
      }>;
    }>;
  };
  const hex = (base64: string): string => Buffer.from(base64, 'base64').toString('hex');
  const spans: ReceivedSpan[] = [];
  for (const rs of message.resourceSpans) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        spans.push({
          traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), traceState: s.traceState, flags: s.flags,
          name: s.name, kind: s.kind, startNs: BigInt(s.startTimeUnixNano), endNs: BigInt(s.endTimeUnixNano),
          attributes: attributesOf(s.attributes), status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
          resource, scope: { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' },
        });
      }
    }
  }
  return spans;
}

export class OtlpReceiver {
  readonly posts: ReceivedPost[] = [];
  /** Posts begun (head seen), answered or not. */
  requests = 0;
  mode: ReceiverMode = { kind: 'ok' };
  readonly #server: Server;
  readonly #held = new Set<ServerResponse>();
  port = 0;

  constructor() {
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** The base URL to configure as the exporter's endpoint. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get spans(): ReceivedSpan[] {
    return this.posts.flatMap((p) => p.spans);
  }

  close(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = this.mode;
      if (mode.kind === 'never') {
        this.#held.add(res);
        res.on('close', () => this.#held.delete(res));
        return;
      }
      if (mode.kind === 'status') {
        res.writeHead(mode.status, mode.retryAfter === undefined ? {} : { 'retry-after': mode.retryAfter });
        res.end();
        return;
      }
      this.posts.push({ path: req.url ?? '', contentType: req.headers['content-type'], spans: decodeExportRequest(Buffer.concat(chunks)) });
      const response = otlpTypes().exportResponse;
      const body = mode.kind === 'reject'
        ? response.encode({ partialSuccess: { rejectedSpans: mode.count, errorMessage: 'too many' } }).finish()
        : response.encode({}).finish();
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
      res.end(body);
    });
  }
}
