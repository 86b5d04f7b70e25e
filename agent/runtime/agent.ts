// The running agent: wires the parts in the order the failure stance needs.
//   programs attached (fail open: links die with us; heartbeat covers a hung agent)
//   → admin up (so /live and /ready answer while the rest starts)
//   → discovery and inventory sources → pods captured as the inventory reports them.
// Stop: pods released (cgroups unmarked, then listeners closed) → programs detached and unpinned.
import type { Server, Socket } from 'node:net';
import type { EndpointAddress } from '../balance/endpoint-set.ts';
import { readFileSync } from 'node:fs';
import { describeError, WeftError } from '../errors.ts';
import type { Logger } from '../telemetry/log.ts';
import { logFunction } from '../telemetry/log.ts';
import { OutboundHandler, outboundParams } from '../proxy/outbound.ts';
import type { OutboundRouter } from '../proxy/outbound.ts';
import type { DetectParams } from '../proxy/detect/params.ts';
import type { Http1ServerParams } from '../proxy/http1/server-connection.ts';
import type { HttpRouteParams, RouteParamsFor } from '../proxy/outbound-http.ts';
import type { ExplainAnswer, ExplainQuery } from '../proxy/request-router.ts';
import { HttpProxy } from './http-proxy.ts';
import type { ServiceLookup } from '../naming/k8s-namers.ts';
import type { DnsNamerSource } from '../naming/dns-namer.ts';
import type { Dtab } from '../naming/dtab.ts';
import type { DnsEndpoints } from '../proxy/naming-view.ts';
import { PodCapture, podCaptureParams } from './pod-capture.ts';
import type { CapturePod, PodListeners, PodPlacement, ReadyPlacement } from './pod-capture.ts';
import { RecentConnections } from './status.ts';
import { AgentMetrics } from '../telemetry/metrics.ts';
import type { HttpMetrics, PodCaptureSample } from '../telemetry/metrics.ts';
import { failureReason, RecentFailures } from '../telemetry/recent-failures.ts';
import { SloTracker, sloParams } from '../telemetry/slo.ts';
import type { SloParamsFor } from '../telemetry/slo.ts';
import { systemClock } from '../time/clock.ts';
import type { SpanSink } from '../telemetry/tracing/span.ts';
import type { TracingParams } from '../telemetry/tracing/tracing-layer.ts';
import { tracingParams } from '../telemetry/tracing/tracing-layer.ts';
import { systemRandom } from '../balance/random.ts';

export interface AgentPorts {
  readonly interceptor: InterceptorPort;
  readonly inventory: InventoryPort;
  readonly router: OutboundRouter & { status(): unknown };
  readonly services: () => ServiceLookup;
  /** Set when the discovery file is the source: its Services under /#/file. */
  readonly fileServices?: () => ServiceLookup;
  /** Discovery pushes endpoint changes of routed backends (the advisory layer's `changed`). */
  readonly onServiceChange?: (listener: (change: { readonly name: string; readonly endpoints: readonly EndpointAddress[] }) => void) => () => void;
  /** The DNS source behind /#/dns names; its status is on /status. */
  readonly dns?: DnsNamerSource & DnsEndpoints & { status(): unknown; close(): Promise<void> };
  /** Where sampled spans go (the OTLP exporter); absent: no collector, context is still propagated. */
  readonly spans?: SpanSink & { status(): unknown; close(): Promise<void> };
  readonly locate: (pod: CapturePod) => PodPlacement;
  readonly hostFacts: () => unknown;
}

/** What the runtime needs from agent/intercept (the only place that touches the addon). */
export interface InterceptorPort {
  meshPod(cgroupId: bigint, flags: { v4: boolean; v6: boolean }): void;
  unmeshPod(cgroupId: bigint): void;
  counters(cgroupId: bigint): { captured: bigint; bypassed: bigint; failed: bigint } | undefined;
  originalDestination(netnsCookie: bigint, family: 4 | 6, clientPort: number): { address: string; port: number; family: 4 | 6 } | undefined;
  inPod(netnsPath: string): InPodSockets;
  attachments(): readonly unknown[];
  close(): void;
}

/** Sockets made inside one pod's network namespace. */
export interface InPodSockets {
  readonly netnsCookie: bigint;
  /** A listening server (allowHalfOpen) bound inside the pod's netns; connections are not yet handled. */
  listen(address: string, port: number): Promise<Server>;
  /** A socket connecting from inside the pod's netns. */
  connect(target: { address: string; port: number }): Socket;
}

export interface InventoryPort {
  /** Pods to mesh and pods excluded by policy, delivered on every change. */
  start(onChange: (wanted: CapturePod[], excluded: Array<{ pod: CapturePod; reason: string }>) => void): void;
  readonly synced: boolean;
  status(): unknown;
  close(): Promise<void>;
}

export interface AgentSettings {
  readonly outboundPort: number;
  readonly captureV6: boolean;
  readonly detect: DetectParams;
  readonly routes: HttpRouteParams | RouteParamsFor;
  readonly http1: Http1ServerParams;
  /** The base dtab: the default one plus what configuration adds. */
  readonly dtab: Dtab;
  /** Objectives per route (telemetry.slo); the defaults when absent. */
  readonly slo?: SloParamsFor;
  /** Trace sampling (telemetry.tracing); the defaults when absent. */
  readonly tracing?: TracingParams;
}

export class RunningAgent {
  readonly #ports: AgentPorts;
  readonly #settings: AgentSettings;
  readonly #log: Logger;
  readonly #capture: PodCapture;
  readonly recent = new RecentConnections();
  readonly metrics: AgentMetrics;
  /** Success rate, latency and SLO burn rates per route, over 5 m and 1 h. */
  readonly slo: SloTracker;
  /** The latest failed requests with their reasons (status page, `weft status`). */
  readonly failures = new RecentFailures();
  readonly #http: HttpProxy;
  /** How a request would be named and routed (the admin /explain endpoint). */
  readonly explain = (query: ExplainQuery): ExplainAnswer => this.#http.explain(query);
  /**
   * Connections the agent accepted per captured pod (by cgroup id), since it was meshed. Against the
   * kernel's `captured` counter this is the self-check that capture really reaches the agent:
   * interception that silently does nothing is the failure users of other meshes report most.
   */
  readonly #accepted = new Map<string, { count: number }>();
  /** The pod behind each meshed cgroup, so its metrics can be dropped when it is released. */
  readonly #sources = new Map<string, { namespace: string; pod: string }>();
  readonly startedAt = new Date();
  #stopped = false;

  constructor(ports: AgentPorts, settings: AgentSettings, log: Logger) {
    this.#ports = ports;
    this.#settings = settings;
    this.#log = log;
    this.slo = new SloTracker(settings.slo ?? sloParams, systemClock);
    this.metrics = new AgentMetrics({ captureCounters: () => this.#captureSamples(), slo: this.slo });
    this.#http = new HttpProxy(settings.routes, settings.detect, settings.http1, {
      metrics: this.#observed(this.metrics.http),
      log: logFunction(log.child({ area: 'proxy' })),
      services: ports.services,
      ...(ports.fileServices === undefined ? {} : { fileServices: ports.fileServices }),
      ...(ports.onServiceChange === undefined ? {} : { onServiceChange: ports.onServiceChange }),
      dtab: settings.dtab,
      ...(ports.dns === undefined ? {} : { dns: ports.dns }),
      tracing: { params: settings.tracing ?? tracingParams, deps: { random: systemRandom, sink: ports.spans } },
    });
    const podLog = logFunction(log.child({ area: 'capture' }));
    this.#capture = new PodCapture(podCaptureParams, {
      locate: (pod) => ports.locate(pod),
      openListeners: (netnsPath, onConnection) => this.#openListeners(netnsPath, onConnection),
      connectionHandler: (pod, placement, listeners) => this.#handlerFor(pod, placement, listeners),
      mesh: (cgroupId, flags) => ports.interceptor.meshPod(cgroupId, flags),
      unmesh: (cgroupId) => {
        ports.interceptor.unmeshPod(cgroupId);
        this.#accepted.delete(cgroupId.toString());
        // A released pod's series go, as a sidecar's go with its pod: churn must not fill the caps.
        const source = this.#sources.get(cgroupId.toString());
        this.#sources.delete(cgroupId.toString());
        if (source !== undefined) void this.metrics.forgetSource(source).catch((error: unknown) => this.#log.warn({ error: describeError(error) }, 'could not drop a released pod\'s metrics'));
      },
      log: podLog,
    });
    ports.inventory.start((wanted, excluded) => this.#capture.setDesired(wanted, excluded));
  }

  get meshedCount(): number {
    return this.#capture.meshedCount;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.#stopped) reasons.push('agent stopping');
    const attached = this.#ports.interceptor.attachments();
    if (attached.length === 0) reasons.push('BPF programs not attached');
    if (!this.#ports.inventory.synced) reasons.push('inventory not synced yet');
    return { ready: reasons.length === 0, reasons };
  }

  status(): unknown {
    const pods = this.#capture.status().map((pod) => {
      const counters = pod.cgroupId === undefined || pod.state !== 'meshed' ? undefined : this.#ports.interceptor.counters(BigInt(pod.cgroupId));
      const accepted = pod.cgroupId === undefined ? 0 : (this.#accepted.get(pod.cgroupId)?.count ?? 0);
      return {
        ...pod,
        meshed: pod.state === 'meshed',
        counters: counters === undefined ? undefined : {
          captured: Number(counters.captured), bypassed: Number(counters.bypassed), failed: Number(counters.failed),
          accepted,
          // Captured by the kernel but never accepted here: in flight for a moment, or lost (a
          // listener that is gone). A number that stays above zero means capture is broken.
          unaccepted: Math.max(0, Number(counters.captured) - accepted),
        },
      };
    });
    return {
      agent: { version: agentVersion(), pid: process.pid, startedAt: this.startedAt.toISOString(), ready: this.readiness() },
      host: this.#ports.hostFacts(),
      programs: this.#ports.interceptor.attachments(),
      inventory: this.#ports.inventory.status(),
      pods,
      captureFailures: Object.fromEntries(this.#capture.failures),
      discovery: this.#ports.router.status(),
      // Each route with its objectives, success rate, latency and burn rates (null: no requests yet).
      routes: this.#http.routes().map((route) => ({ ...route, slo: this.slo.status(route.authority) ?? null })),
      // Every route measured in the last hour, idle-closed ones and "passthrough" included.
      slo: this.slo.all(),
      failures: { total: this.failures.total, recent: this.failures.list() },
      dns: this.#ports.dns?.status(),
      tracing: this.#ports.spans?.status(),
      connections: { totals: this.recent.totals, recent: this.recent.list() },
    };
  }

  /** The proxy's metrics sink, also feeding the SLO windows and the ring of recent failures. */
  #observed(inner: HttpMetrics): HttpMetrics {
    return {
      ...inner,
      response: (...args: Parameters<HttpMetrics['response']>) => {
        inner.response(...args);
        const [authority, source, sample] = args;
        this.slo.record(authority, sample.success, sample.latencyMs);
        if (sample.success) return;
        this.failures.add({
          at: new Date().toISOString(),
          authority,
          source: source.namespace === '' ? '' : `${source.namespace}/${source.pod}`,
          status: sample.status,
          grpcStatus: sample.grpcStatus,
          error: sample.error,
          reason: failureReason(sample.status, sample.grpcStatus, sample.error, sample.reason),
          latencyMs: sample.latencyMs,
        });
      },
    };
  }

  #captureSamples(): PodCaptureSample[] {
    const samples: PodCaptureSample[] = [];
    for (const pod of this.#capture.status()) {
      if (pod.state !== 'meshed' || pod.cgroupId === undefined) continue;
      const counters = this.#ports.interceptor.counters(BigInt(pod.cgroupId));
      if (counters === undefined) continue;
      samples.push({
        namespace: pod.namespace, pod: pod.name,
        captured: Number(counters.captured), bypassed: Number(counters.bypassed), failed: Number(counters.failed),
      });
    }
    return samples;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#capture.close();
    await this.#http.close();
    // After the routes: spans of the last requests are in the queue, sent within the close's grace.
    await this.#ports.spans?.close();
    await this.#ports.dns?.close();
    await this.#ports.inventory.close().catch((error: unknown) => this.#log.warn({ error: describeError(error) }, 'inventory close failed'));
    this.#ports.interceptor.close();
  }

  async #openListeners(netnsPath: string, onConnection: (socket: Socket) => void): Promise<PodListeners> {
    const pod = this.#ports.interceptor.inPod(netnsPath);
    const servers: Server[] = [];
    const open = async (family: 4 | 6, address: string): Promise<boolean> => {
      let server: Server;
      try {
        server = await pod.listen(address, this.#settings.outboundPort);
      } catch (error) {
        // v6 is optional (a pod netns may have IPv6 disabled); v4 is not.
        if (family === 6) return false;
        throw error;
      }
      server.on('connection', onConnection);
      server.on('error', (error) => this.#log.error({ netnsPath, error: describeError(error) }, 'in-pod listener error'));
      servers.push(server);
      return true;
    };
    try {
      const v4 = await open(4, '127.0.0.1');
      const v6 = this.#settings.captureV6 ? await open(6, '::1') : false;
      return { servers, v4, v6, netnsCookie: pod.netnsCookie };
    } catch (error) {
      for (const server of servers) server.close();
      throw new WeftError('WEFT_E_CAPTURE_LISTEN', `could not open the capture listener in ${netnsPath}: ${describeError(error)}`, { cause: error });
    }
  }

  #handlerFor(pod: CapturePod, placement: ReadyPlacement, listeners: PodListeners): (socket: Socket) => void {
    const source = { namespace: pod.namespace, pod: pod.name };
    const interceptor = this.#ports.interceptor;
    const inPod = interceptor.inPod(placement.netnsPath);
    // A new capture starts from zero, as the kernel's counters do when the pod is meshed again.
    const accepted = { count: 0 };
    this.#accepted.set(placement.cgroupId.toString(), accepted);
    this.#sources.set(placement.cgroupId.toString(), source);
    const netnsCookie = listeners.netnsCookie;
    const handler = new OutboundHandler(outboundParams, {
      originalDestination: (family, port) => interceptor.originalDestination(netnsCookie, family, port),
      router: this.#ports.router,
      connector: { connect: (target) => inPod.connect(target) },
      events: {
        onConnection: (record) => {
          this.recent.add(record);
          this.metrics.connection(source, record);
        },
      },
      now: () => performance.now(),
      http: this.#http.forPod({
        source: `${pod.namespace}/${pod.name}`,
        clientAddress: '',
        connect: (address, port) => inPod.connect({ address, port }),
        poolKey: placement.cgroupId.toString(),
      }),
    });
    return (socket) => {
      accepted.count += 1;
      handler.handle(socket);
    };
  }
}

let cachedVersion: string | undefined;
function agentVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
