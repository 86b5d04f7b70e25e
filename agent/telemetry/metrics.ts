// Prometheus metrics (prom-client) in Linkerd's names and labels, so existing dashboards work, plus
// weft's own. Metrics are created here and passed to the parts that record them: never global.
//
// Cardinality is bounded by construction: `authority` is a Service name from discovery or the
// literal "passthrough" (never a raw ip:port a pod happened to dial), and pod labels come from the
// node's inventory, which is bounded by the pods one node can run.
import { Counter, Histogram, Registry } from 'prom-client';
import type { OpenMetricsContentType } from 'prom-client';
import type { OutboundConnectionRecord } from '../proxy/outbound.ts';

export interface PodCaptureSample {
  readonly namespace: string;
  readonly pod: string;
  readonly captured: number;
  readonly bypassed: number;
  readonly failed: number;
}

export interface SourceLabels {
  readonly namespace: string;
  readonly pod: string;
}

export interface ResponseSample {
  readonly status: number;
  readonly success: boolean;
  readonly grpcStatus: number | undefined;
  /** The proxy's error code when it answered itself (l5d-proxy-error). */
  readonly error: string | undefined;
  readonly latencyMs: number;
}

/** What the request path records; passed into the layers, never global. */
export interface HttpMetrics {
  request(authority: string, source: SourceLabels): void;
  response(authority: string, source: SourceLabels, sample: ResponseSample): void;
  retry(authority: string, outcome: 'retried' | 'not-retried', reason: string): void;
  shed(authority: string, scope: string): void;
  breaker(authority: string, endpoint: string, to: string, reason: string): void;
  detected(protocol: string, reason: string): void;
  /** A per-request dtab override: honoured (trusted caller), stripped (untrusted), or invalid (400). */
  override(outcome: string): void;
}

export interface MetricsDeps {
  /** Read at scrape time: the kernel's per-pod capture counters for meshed pods. */
  readonly captureCounters: () => readonly PodCaptureSample[];
}

export class AgentMetrics {
  /** One registry per exposition format, so the format can be negotiated per scrape. */
  readonly #prometheus = new Registry();
  readonly #openMetrics = new Registry<OpenMetricsContentType>();
  readonly #tcpOpen: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #tcpClose: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod' | 'classification' | 'errno'>;
  readonly #tcpRead: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #tcpWrite: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #tcpDuration: Histogram<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #requests: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #responses: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod' | 'status_code' | 'classification' | 'grpc_status_code' | 'error'>;
  readonly #latency: Histogram<'direction' | 'authority' | 'status_code'>;
  readonly #retries: Counter<'authority' | 'outcome' | 'reason'>;
  readonly #shed: Counter<'authority' | 'scope'>;
  readonly #breaker: Counter<'authority' | 'endpoint' | 'to' | 'reason'>;
  readonly #detected: Counter<'protocol' | 'reason'>;
  readonly #overrides: Counter<'outcome'>;

  constructor(deps: MetricsDeps) {
    this.#openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const registers = [this.#prometheus, this.#openMetrics];
    const tcpLabels = ['direction', 'authority', 'source_namespace', 'source_pod'] as const;
    this.#tcpOpen = new Counter({ name: 'tcp_open_total', help: 'TCP connections opened through the proxy', labelNames: tcpLabels, registers });
    this.#tcpClose = new Counter({
      name: 'tcp_close_total', help: 'TCP connections closed, by how they ended',
      labelNames: [...tcpLabels, 'classification', 'errno'], registers,
    });
    this.#tcpRead = new Counter({ name: 'tcp_read_bytes_total', help: 'Bytes read from the client', labelNames: tcpLabels, registers });
    this.#tcpWrite = new Counter({ name: 'tcp_write_bytes_total', help: 'Bytes written to the client', labelNames: tcpLabels, registers });
    this.#tcpDuration = new Histogram({
      name: 'tcp_connection_duration_ms', help: 'How long proxied TCP connections lasted, in milliseconds',
      labelNames: tcpLabels, registers,
      buckets: [1, 10, 100, 1000, 10_000, 60_000, 600_000, 3_600_000],
    });
    const httpLabels = ['direction', 'authority', 'source_namespace', 'source_pod'] as const;
    this.#requests = new Counter({ name: 'request_total', help: 'HTTP requests received by the proxy', labelNames: httpLabels, registers });
    this.#responses = new Counter({
      name: 'response_total', help: 'HTTP responses sent by the proxy (its own error responses included, with the error code)',
      labelNames: [...httpLabels, 'status_code', 'classification', 'grpc_status_code', 'error'], registers,
    });
    this.#latency = new Histogram({
      name: 'response_latency_ms', help: 'Time from a request head to its response head, in milliseconds',
      labelNames: ['direction', 'authority', 'status_code'], registers,
      // Linkerd's bucket bounds, so its dashboards' quantile queries read the same.
      buckets: [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10_000, 20_000, 30_000, 40_000, 50_000],
    });
    this.#retries = new Counter({
      name: 'weft_retries_total', help: 'Retries made, and failures not retried by reason (budget = the retry budget was exhausted)',
      labelNames: ['authority', 'outcome', 'reason'], registers,
    });
    this.#shed = new Counter({ name: 'weft_load_shed_total', help: 'Requests refused by load shedding, by the bound that was full', labelNames: ['authority', 'scope'], registers });
    this.#breaker = new Counter({
      name: 'weft_breaker_transitions_total', help: 'Failure-accrual state changes of endpoints', labelNames: ['authority', 'endpoint', 'to', 'reason'], registers,
    });
    this.#detected = new Counter({
      name: 'weft_protocol_detect_total', help: 'Captured connections by detected protocol and how it was decided', labelNames: ['protocol', 'reason'], registers,
    });
    this.#overrides = new Counter({
      name: 'weft_dtab_override_total', help: 'Per-request dtab override headers, by what weft did with them', labelNames: ['outcome'], registers,
    });
    // The kernel counts; this reads its maps at scrape time rather than mirroring them.
    new Counter({
      name: 'weft_capture_connections_total',
      help: 'Connections of meshed pods seen by the capture programs, by what they did (captured, bypassed, failed)',
      labelNames: ['namespace', 'pod', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const sample of deps.captureCounters()) {
          const base = { namespace: sample.namespace, pod: sample.pod };
          this.inc({ ...base, outcome: 'captured' }, sample.captured);
          this.inc({ ...base, outcome: 'bypassed' }, sample.bypassed);
          this.inc({ ...base, outcome: 'failed' }, sample.failed);
        }
      },
    });
  }

  /** Records one finished outbound connection of a pod. */
  connection(source: { readonly namespace: string; readonly pod: string }, record: OutboundConnectionRecord): void {
    const labels = { direction: 'outbound', authority: record.route, source_namespace: source.namespace, source_pod: source.pod };
    this.#tcpOpen.inc(labels);
    const failed = record.outcome === 'connect-failed' || record.outcome === 'no-original-destination';
    this.#tcpClose.inc({
      ...labels,
      classification: failed || record.outcome !== 'closed' ? 'failure' : 'success',
      errno: record.outcome === 'closed' ? '' : (record.error !== undefined && /^E[A-Z]+$/.test(record.error) ? record.error : record.outcome),
    });
    this.#tcpRead.inc(labels, record.clientBytes);
    this.#tcpWrite.inc(labels, record.upstreamBytes);
    this.#tcpDuration.observe(labels, record.durationMs);
  }

  readonly http: HttpMetrics = {
    request: (authority, source) => {
      this.#requests.inc({ direction: 'outbound', authority, source_namespace: source.namespace, source_pod: source.pod });
    },
    response: (authority, source, r) => {
      this.#responses.inc({
        direction: 'outbound', authority, source_namespace: source.namespace, source_pod: source.pod,
        status_code: String(r.status), classification: r.success ? 'success' : 'failure',
        grpc_status_code: r.grpcStatus === undefined ? '' : String(r.grpcStatus), error: r.error ?? '',
      });
      this.#latency.observe({ direction: 'outbound', authority, status_code: String(r.status) }, r.latencyMs);
    },
    retry: (authority, outcome, reason) => this.#retries.inc({ authority, outcome, reason }),
    shed: (authority, scope) => this.#shed.inc({ authority, scope }),
    breaker: (authority, endpoint, to, reason) => this.#breaker.inc({ authority, endpoint, to, reason }),
    detected: (protocol, reason) => this.#detected.inc({ protocol, reason }),
    override: (outcome) => this.#overrides.inc({ outcome }),
  };

  /** The exposition for an Accept header: OpenMetrics when asked for, Prometheus text otherwise. */
  async expose(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const registry = accept !== undefined && accept.includes('application/openmetrics-text') ? this.#openMetrics : this.#prometheus;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}
