// Prometheus metrics (prom-client) in Linkerd's names and labels, so existing dashboards work, plus
// weft's own. Metrics are created here and passed to the parts that record them: never global.
//
// Cardinality is bounded twice. By construction: `authority` is the concrete backend naming chose
// (a Service, a DNS name, or the literal "passthrough", never a raw ip:port a pod happened to
// dial), and pod labels come from the node's inventory. And by a hard cap, because a dtab can turn
// client-chosen Host values into names (/#/dns) and pods churn: past `maxAuthorities` distinct
// authorities a new one is written as authority="overflow", and past `maxSeriesPerMetric` label
// sets in one family a new set has its authority, destination and source written as "overflow";
// both are counted in weft_metrics_label_overflow_total, so a flood shows instead of eating memory.
//
// The HTTP families carry Linkerd's label names (linkerd.io "Proxy Metrics" reference; the
// linkerd2-proxy integration tests show them together): direction, authority, dst_namespace,
// dst_service, tls="no_identity" with no_tls_reason="not_provided_by_service_discovery" (weft has no
// mTLS yet, and that is what Linkerd writes for a plaintext outbound request), status_code,
// classification, grpc_status_code. The source pod is `namespace` and `pod`: Linkerd gets those
// from the scraped pod's own labels, a node agent writes them per request, so scrape it with
// `honor_labels: true` or Prometheus renames them to exported_namespace/exported_pod.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OpenMetricsContentType } from 'prom-client';
import type { DiscoveryMetrics } from '../discovery/metrics.ts';
import type { OutboundConnectionRecord } from '../proxy/outbound.ts';
import type { SloBurnSample, SloObjectiveSample } from './slo.ts';

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

/** The concrete backend naming chose: its Service and namespace (empty when it is not a Service). */
export interface DestinationLabels {
  readonly namespace: string;
  readonly service: string;
}

export const NO_DESTINATION: DestinationLabels = { namespace: '', service: '' };

/** The value that stands for every label value past a cap. */
export const OVERFLOW = 'overflow';

export interface MetricsParams {
  /** Distinct authority values kept per agent; later ones are written as "overflow". */
  readonly maxAuthorities: number;
  /** Distinct label sets kept per HTTP metric family; later ones collapse to "overflow". */
  readonly maxSeriesPerMetric: number;
}

export const metricsParams: MetricsParams = { maxAuthorities: 500, maxSeriesPerMetric: 10_000 };

/** A set that admits up to `limit` distinct keys, then only those it already holds. */
/** Most cached prom-client children per family (the caps bound the admitted label sets anyway). */
const CHILD_CACHE_LIMIT = 20_000;

export class LabelCap {
  readonly #limit: number;
  readonly #seen = new Set<string>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  admit(key: string): boolean {
    if (this.#seen.has(key)) return true;
    if (this.#seen.size >= this.#limit) return false;
    this.#seen.add(key);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Frees the keys `drop` picks, so new label sets fit again. */
  forget(drop: (key: string) => boolean): void {
    for (const key of this.#seen) if (drop(key)) this.#seen.delete(key);
  }
}

export interface ResponseSample {
  readonly status: number;
  readonly success: boolean;
  readonly grpcStatus: number | undefined;
  /** The proxy's error code when it answered itself (l5d-proxy-error). */
  readonly error: string | undefined;
  readonly latencyMs: number;
  /** When the proxy answered itself: why, in words (the error's message), for the latest failures. */
  readonly reason?: string;
}

/** What the request path records; passed into the layers, never global. */
export interface HttpMetrics {
  request(authority: string, source: SourceLabels, destination?: DestinationLabels): void;
  response(authority: string, source: SourceLabels, sample: ResponseSample, destination?: DestinationLabels): void;
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
  /** Read at scrape time: SLO burn rates and objectives per route (telemetry/slo.ts). */
  readonly slo?: { burnSamples(): readonly SloBurnSample[]; objectiveSamples(): readonly SloObjectiveSample[] };
}

// Linkerd's names (see the header); `namespace` and `pod` are the source pod's.
const HTTP_LABELS = ['direction', 'authority', 'dst_namespace', 'dst_service', 'namespace', 'pod', 'tls', 'no_tls_reason'] as const;
type HttpLabel = (typeof HTTP_LABELS)[number];

export class AgentMetrics {
  /** One registry per exposition format, so the format can be negotiated per scrape. */
  readonly #prometheus = new Registry();
  readonly #openMetrics = new Registry<OpenMetricsContentType>();
  readonly #tcpOpen: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #tcpClose: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod' | 'classification' | 'errno'>;
  readonly #tcpRead: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #tcpWrite: Counter<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #tcpDuration: Histogram<'direction' | 'authority' | 'source_namespace' | 'source_pod'>;
  readonly #requests: Counter<HttpLabel>;
  readonly #responses: Counter<HttpLabel | 'status_code' | 'classification' | 'grpc_status_code' | 'error'>;
  readonly #latency: Histogram<HttpLabel | 'status_code'>;
  readonly #overflow: Counter<'metric' | 'label'>;
  readonly #authorities: LabelCap;
  readonly #series: { readonly request: LabelCap; readonly response: LabelCap; readonly latency: LabelCap };
  readonly #retries: Counter<'authority' | 'outcome' | 'reason'>;
  readonly #shed: Counter<'authority' | 'scope'>;
  readonly #breaker: Counter<'authority' | 'endpoint' | 'to' | 'reason'>;
  readonly #detected: Counter<'protocol' | 'reason'>;
  readonly #overrides: Counter<'outcome'>;
  readonly #spansDropped: Counter<'reason'>;
  /** Discovery's updates, source errors and staleness (advisory layer), for the service router. */
  readonly discovery: DiscoveryMetrics;

  constructor(deps: MetricsDeps, params: MetricsParams = metricsParams) {
    this.#openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const registers = [this.#prometheus, this.#openMetrics];
    this.#spansDropped = new Counter({
      name: 'weft_trace_spans_dropped_total', help: 'Sampled spans never delivered to the OTLP collector, by why (queue full, export failed, rejected)',
      labelNames: ['reason'], registers,
    });
    const updates = new Counter({ name: 'weft_discovery_updates_total', help: 'Good answer sets (tables) a discovery source produced', labelNames: ['source'], registers });
    const sourceErrors = new Counter({ name: 'weft_discovery_source_errors_total', help: 'Failed reads, lists or watches of a discovery source, by error code', labelNames: ['source', 'code'], registers });
    const staleServices = new Gauge({
      name: 'weft_discovery_stale_services', help: 'Service ports served stale now (last good endpoints kept), by why', labelNames: ['source', 'reason'], registers,
    });
    const staleSince = new Gauge({
      name: 'weft_discovery_stale_since_seconds', help: 'When each stale service port became stale (Unix seconds; age = time() - value)', labelNames: ['source', 'service', 'reason'], registers,
    });
    this.discovery = {
      tableUpdated: (source) => updates.inc({ source }),
      sourceError: (source, code) => sourceErrors.inc({ source, code }),
      stale: (source, services) => {
        // The whole set each time: reset, then what is stale now (bounded by the routed services).
        staleServices.reset();
        staleSince.reset();
        const byReason = new Map<string, number>();
        for (const s of services) {
          byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1);
          staleSince.set({ source, service: s.service, reason: s.reason }, Date.parse(s.since) / 1000);
        }
        for (const reason of ['source-error', 'empty-unconfirmed', 'drop-unconfirmed']) staleServices.set({ source, reason }, byReason.get(reason) ?? 0);
      },
    };
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
    this.#authorities = new LabelCap(params.maxAuthorities);
    this.#series = {
      request: new LabelCap(params.maxSeriesPerMetric),
      response: new LabelCap(params.maxSeriesPerMetric),
      latency: new LabelCap(params.maxSeriesPerMetric),
    };
    this.#overflow = new Counter({
      name: 'weft_metrics_label_overflow_total',
      help: 'Samples written with "overflow" in place of their labels: label=authority past the distinct-authority cap, label=series past the label-set cap of that metric',
      labelNames: ['metric', 'label'], registers,
    });
    const httpLabels = HTTP_LABELS;
    this.#requests = new Counter({ name: 'request_total', help: 'HTTP requests received by the proxy', labelNames: httpLabels, registers });
    this.#responses = new Counter({
      name: 'response_total', help: 'HTTP responses sent by the proxy (its own error responses included, with the error code)',
      labelNames: [...httpLabels, 'status_code', 'classification', 'grpc_status_code', 'error'], registers,
    });
    this.#latency = new Histogram({
      name: 'response_latency_ms', help: 'Time from a request head to its response head, in milliseconds',
      // status_code but not classification or grpc_status_code, as Linkerd: every label multiplies
      // 26 buckets.
      labelNames: [...httpLabels, 'status_code'], registers,
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
    const slo = deps.slo;
    if (slo !== undefined) {
      new Gauge({
        name: 'weft_slo_burn_rate',
        help: 'Error-budget burn rate of a route\'s objective over a window: bad share / allowed share (1 spends the budget exactly over the SLO period)',
        labelNames: ['authority', 'objective', 'window'],
        registers,
        collect() {
          this.reset();
          for (const s of slo.burnSamples()) this.set({ authority: s.authority, objective: s.objective, window: s.window }, s.burnRate);
        },
      });
      new Gauge({
        name: 'weft_slo_objective',
        help: 'A route\'s objective: share of requests that must succeed (success) or be within the latency threshold (latency)',
        labelNames: ['authority', 'objective'],
        registers,
        collect() {
          this.reset();
          for (const s of slo.objectiveSamples()) this.set({ authority: s.authority, objective: s.objective }, s.value);
        },
      });
    }
  }

  /** Records one finished outbound connection of a pod. */
  connection(source: { readonly namespace: string; readonly pod: string }, record: OutboundConnectionRecord): void {
    const labels = { direction: 'outbound', authority: this.#authority('tcp_open_total', record.route), source_namespace: source.namespace, source_pod: source.pod };
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

  /** The authority as written: itself while under the cap (or already seen), else "overflow". */
  #authority(metric: string, authority: string): string {
    if (this.#authorities.admit(authority)) return authority;
    this.#overflow.inc({ metric, label: 'authority' });
    return OVERFLOW;
  }

  /** Linkerd's labels of one request; past either cap, the unbounded ones read "overflow". */
  #httpLabels(metric: string, cap: LabelCap, authority: string, source: SourceLabels, destination: DestinationLabels, rest: string): Record<HttpLabel, string> {
    const written = this.#authority(metric, authority);
    const collapsed = written === OVERFLOW;
    const labels: Record<HttpLabel, string> = {
      direction: 'outbound',
      authority: written,
      dst_namespace: collapsed ? OVERFLOW : destination.namespace,
      dst_service: collapsed ? OVERFLOW : destination.service,
      namespace: source.namespace,
      pod: source.pod,
      tls: 'no_identity',
      no_tls_reason: 'not_provided_by_service_discovery',
    };
    if (cap.admit(`${labels.authority}\0${labels.dst_namespace}\0${labels.dst_service}\0${labels.namespace}\0${labels.pod}\0${rest}`)) return labels;
    this.#overflow.inc({ metric, label: 'series' });
    return { ...labels, authority: OVERFLOW, dst_namespace: OVERFLOW, dst_service: OVERFLOW, namespace: OVERFLOW, pod: OVERFLOW };
  }

  /**
   * prom-client children of the per-request series, by their label values: `inc(labels)` hashes
   * a dozen labels on every call, a cached child does not. Only label sets admitted under the caps
   * are cached (an overflowing request is still counted as overflow each time); bounded, and
   * cleared when a pod's series are dropped.
   */
  readonly #requestChildren = new Map<string, { inc(value?: number): void }>();
  readonly #responseChildren = new Map<string, { inc(value?: number): void }>();
  readonly #latencyChildren = new Map<string, { observe(value: number): void }>();

  #cache<C>(cache: Map<string, C>, key: string, make: () => C | undefined): C | undefined {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const made = make();
    if (made !== undefined) {
      if (cache.size >= CHILD_CACHE_LIMIT) cache.clear();
      cache.set(key, made);
    }
    return made;
  }

  readonly http: HttpMetrics = {
    request: (authority, source, destination = NO_DESTINATION) => {
      const key = `${authority}\0${destination.namespace}\0${destination.service}\0${source.namespace}\0${source.pod}`;
      let overflow: Record<HttpLabel, string> | undefined;
      const child = this.#cache(this.#requestChildren, key, () => {
        const labels = this.#httpLabels('request_total', this.#series.request, authority, source, destination, '');
        if (labels.authority !== OVERFLOW && labels.pod !== OVERFLOW) return this.#requests.labels(labels);
        overflow = labels;
        return undefined;
      });
      if (child !== undefined) child.inc();
      else if (overflow !== undefined) this.#requests.inc(overflow);
    },
    response: (authority, source, r, destination = NO_DESTINATION) => {
      const status = String(r.status);
      const classification = r.success ? 'success' : 'failure';
      const grpc = r.grpcStatus === undefined ? '' : String(r.grpcStatus);
      const error = r.error ?? '';
      const base = `${authority}\0${destination.namespace}\0${destination.service}\0${source.namespace}\0${source.pod}`;
      let overflow: Record<string, string> | undefined;
      const counted = this.#cache(this.#responseChildren, `${base}\0${status}\0${classification}\0${grpc}\0${error}`, () => {
        const labels = this.#httpLabels('response_total', this.#series.response, authority, source, destination, `${status}\0${classification}\0${grpc}\0${error}`);
        const full = { ...labels, status_code: status, classification, grpc_status_code: grpc, error };
        if (labels.authority !== OVERFLOW && labels.pod !== OVERFLOW) return this.#responses.labels(full);
        overflow = full;
        return undefined;
      });
      if (counted !== undefined) counted.inc();
      else if (overflow !== undefined) this.#responses.inc(overflow);
      let timedOverflow: Record<string, string> | undefined;
      const timed = this.#cache(this.#latencyChildren, `${base}\0${status}`, () => {
        const labels = this.#httpLabels('response_latency_ms', this.#series.latency, authority, source, destination, status);
        const full = { ...labels, status_code: status };
        if (labels.authority !== OVERFLOW && labels.pod !== OVERFLOW) return this.#latency.labels(full);
        timedOverflow = full;
        return undefined;
      });
      if (timed !== undefined) timed.observe(r.latencyMs);
      else if (timedOverflow !== undefined) this.#latency.observe(timedOverflow, r.latencyMs);
    },
    retry: (authority, outcome, reason) => this.#retries.inc({ authority: this.#authority('weft_retries_total', authority), outcome, reason }),
    shed: (authority, scope) => this.#shed.inc({ authority: this.#authority('weft_load_shed_total', authority), scope }),
    breaker: (authority, endpoint, to, reason) => this.#breaker.inc({ authority: this.#authority('weft_breaker_transitions_total', authority), endpoint, to, reason }),
    detected: (protocol, reason) => this.#detected.inc({ protocol, reason }),
    override: (outcome) => this.#overrides.inc({ outcome }),
  };

  /**
   * Drops every series of a pod that left the node (HTTP and TCP families) and frees its room under
   * the caps: without this, pod churn on a long-lived node would fill the caps for good, as a
   * sidecar's metrics go away with its pod.
   */
  async forgetSource(source: SourceLabels): Promise<void> {
    const isSource = (key: string): boolean => {
      const parts = key.split('\0');
      return parts[3] === source.namespace && parts[4] === source.pod;
    };
    for (const cap of Object.values(this.#series)) cap.forget(isSource);
    // Cached children of removed series would count into series no longer exported.
    this.#requestChildren.clear();
    this.#responseChildren.clear();
    this.#latencyChildren.clear();
    const http = (labels: Partial<Record<string, string | number>>): boolean => labels['namespace'] === source.namespace && labels['pod'] === source.pod;
    const tcp = (labels: Partial<Record<string, string | number>>): boolean => labels['source_namespace'] === source.namespace && labels['source_pod'] === source.pod;
    const families = [
      [this.#requests, http], [this.#responses, http], [this.#latency, http],
      [this.#tcpOpen, tcp], [this.#tcpClose, tcp], [this.#tcpRead, tcp], [this.#tcpWrite, tcp], [this.#tcpDuration, tcp],
    ] as const;
    for (const [metric, matches] of families) {
      const seen = new Set<string>();
      for (const value of (await metric.get()).values) {
        if (!matches(value.labels)) continue;
        // A histogram lists each bucket (le) and its _sum/_count: one series to remove.
        const { le: _le, ...labels } = value.labels as Record<string, string | number>;
        const key = JSON.stringify(labels);
        if (seen.has(key)) continue;
        seen.add(key);
        (metric as { remove(labels: Record<string, string | number>): void }).remove(labels);
      }
    }
  }

  /** Spans the OTLP exporter could not deliver (it never blocks requests: it drops and counts). */
  spansDropped(reason: string, count: number): void {
    this.#spansDropped.inc({ reason }, count);
  }

  /** The exposition for an Accept header: OpenMetrics when asked for, Prometheus text otherwise. */
  async expose(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    const registry = accept !== undefined && accept.includes('application/openmetrics-text') ? this.#openMetrics : this.#prometheus;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }
}
