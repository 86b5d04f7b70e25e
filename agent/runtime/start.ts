// The composition root: turns a resolved configuration into a running agent. Every concrete part
// is chosen here and nowhere else; the runtime itself only sees the ports it declares.
import { statSync } from 'node:fs';
import { describeError, WeftError } from '../errors.ts';
import type { WeftConfig } from '../config/schema.ts';
import { bpfPinPath } from '../config/schema.ts';
import { createAdminServer } from '../admin/server.ts';
import type { AdminServer } from '../admin/server.ts';
import { findCgroup2Mount } from '../host/cgroup2.ts';
import { cachedHostFacts, hostFacts } from '../host/facts.ts';
import { podsRootAuto } from '../inventory/cgroup-resolver.ts';
import { InventoryFileSource } from '../inventory/file-source.ts';
import { MeshInventory } from '../inventory/mesh-inventory.ts';
import { PodResolver } from '../inventory/resolver.ts';
import type { InventorySource } from '../inventory/types.ts';
import { createLogger, isLogLevel, LOG_LEVELS, logFunction, setLogLevel } from '../telemetry/log.ts';
import { AccessLog } from '../telemetry/access-log.ts';
import { addLogLevelRoutes } from '../admin/log-level.ts';
import { tapHandler } from '../admin/tap.ts';
import type { Logger } from '../telemetry/log.ts';
import { RunningAgent } from './agent.ts';
import type { AgentPorts, InterceptorPort } from './agent.ts';
import { EmptyInventorySource } from './empty-inventory.ts';
import { startCapture } from './capture-port.ts';
import { serviceRouter } from './service-router.ts';
import type { TableSource } from './service-router.ts';
import { DiscoveryFileSource } from '../discovery/file-source.ts';
import type { DiscoveryMetrics } from '../discovery/metrics.ts';
import { noDiscoveryMetrics } from '../discovery/metrics.ts';
import { explainHandler } from '../admin/explain.ts';
import { statusPageHandler } from '../admin/status-page.ts';
import { sloParamsFromConfig } from '../config/telemetry.ts';
import { tracingFromConfig } from '../config/tracing.ts';
import type { OtlpExporterParams } from '../telemetry/tracing/otlp-exporter.ts';
import { OtlpHttpExporter } from '../telemetry/tracing/otlp-exporter.ts';
import { weftResource } from '../telemetry/tracing/resource.ts';
import { systemClock } from '../time/clock.ts';
import { DnsDiscoverySource } from '../discovery/dns-source.ts';
import { defaultDtab } from '../naming/default-dtab.ts';
import { parseDtab } from '../naming/parse.ts';
import { detectParamsFromConfig, http1ServerParamsFromConfig, routeParamsFromConfig } from '../proxy/route-config.ts';

export interface StartOptions {
  /** Log warnings and errors only (the demo prints its own story). */
  readonly quiet?: boolean;
  readonly logger?: Logger;
}

export interface StartedAgent {
  readonly running: RunningAgent;
  readonly adminUrl: string;
  readonly log: Logger;
  /** Resolves with the number of meshed pods once at least `count` are meshed. */
  waitMeshed(count: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startAgent(config: WeftConfig, options: StartOptions = {}): Promise<StartedAgent> {
  const log = options.logger ?? createLogger(options.quiet === true ? 'warn' : config.log.level);
  const podsRoot = resolvePodsRoot(config.cgroup.podsRoot);
  void hostFacts();

  const interceptor: InterceptorPort = startCapture({
    pinDir: bpfPinPath(config.bpf),
    bpffs: config.bpf.bpffs,
    podsRoot,
    outboundPort: config.capture.outboundPort,
    excludedPorts: config.capture.excludedPorts,
    heartbeatIntervalMs: config.bpf.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.bpf.heartbeatTimeoutMs,
    log: logFunction(log.child({ area: 'intercept' })),
  });

  let admin: AdminServer | undefined;
  let running: RunningAgent | undefined;
  let accessLog: AccessLog | undefined;
  try {
    const cluster = await clusterSources(config);
    const discovery = config.discovery.file !== undefined ? new DiscoveryFileSource({ path: config.discovery.file }) : cluster?.discovery;
    // The router starts before the agent (and its metrics) exist: its events reach them once they do.
    let discoverySink: DiscoveryMetrics = noDiscoveryMetrics;
    const discoveryMetrics: DiscoveryMetrics = {
      tableUpdated: (source) => discoverySink.tableUpdated(source),
      sourceError: (source, code) => discoverySink.sourceError(source, code),
      stale: (source, services) => discoverySink.stale(source, services),
    };
    const router = serviceRouter(discovery, logFunction(log.child({ area: 'discovery' })), { advisory: config.discovery.advisory, metrics: discoveryMetrics });
    // Followed on first use only (a dtab entry or override naming /#/dns/…), so it costs nothing
    // until then; the system's resolvers answer.
    const dns = new DnsDiscoverySource();
    dns.start();
    const source: InventorySource = config.inventory.file !== undefined
      ? new InventoryFileSource({ path: config.inventory.file, nodeName: config.node.name })
      : (cluster?.inventory ?? new EmptyInventorySource());
    const inventory = new MeshInventory(source);
    const resolver = new PodResolver({ podsRoot });
    // Spans to the configured collector; none configured, none exported (context still propagated).
    const tracing = tracingFromConfig(config.telemetry.tracing);
    // Drops are counted on /metrics once the agent's metrics exist (the exporter is built first).
    let countDrop: (reason: string, count: number) => void = () => undefined;
    const spans = tracing.exporter === undefined ? undefined : otlpExporter(tracing.exporter, config.node.name, log, (reason, count) => countDrop(reason, count));
    const ports: AgentPorts = {
      interceptor,
      inventory: {
        start: (onChange) => inventory.start(onChange),
        get synced() {
          return inventory.synced;
        },
        status: () => inventory.status(),
        close: () => Promise.all([inventory.close(), router.close()]).then(() => undefined),
      },
      router,
      // The naming view of discovery: the source's current table (a new object on every change).
      services: () => router.services(),
      ...(config.discovery.file === undefined ? {} : { fileServices: () => router.services() }),
      onServiceChange: (listener) => router.onChange(listener),
      dns,
      ...(spans === undefined ? {} : { spans }),
      locate: (pod) => resolver.resolve(pod),
      // Host facts (systeminformation) are gathered once in the background; /status shows them
      // as soon as they are in and never waits for them.
      hostFacts: () => ({ nodeName: config.node.name, podsRoot, ...cachedHostFacts() }),
    };
    running = new RunningAgent(ports, {
      outboundPort: config.capture.outboundPort,
      captureV6: config.capture.captureV6,
      detect: detectParamsFromConfig(config.proxy),
      routes: routeParamsFromConfig(config.proxy),
      http1: http1ServerParamsFromConfig(config.proxy),
      dtab: [...defaultDtab, ...parseDtab(config.naming.dtab)],
      slo: sloParamsFromConfig(config.telemetry.slo),
      tracing: tracing.params,
    }, log);
    const agent = running;
    discoverySink = agent.metrics.discovery;
    countDrop = (reason, count) => agent.metrics.spansDropped(reason, count);
    admin = createAdminServer({
      address: config.admin.address,
      port: config.admin.port,
      provider: { status: () => agent.status(), readiness: () => agent.readiness() },
      log: logFunction(log.child({ area: 'admin' })),
    });
    admin.router.get('/metrics', async (request) => {
      const accept = request.headers.accept;
      const { contentType, body } = await agent.metrics.expose(typeof accept === 'string' ? accept : undefined);
      return { status: 200, headers: { 'content-type': contentType }, body };
    });
    admin.router.get('/explain', explainHandler(agent.explain));
    // The status page: /status for a person (pods, routes with SLOs, endpoints, latest failures).
    admin.router.get('/', statusPageHandler({ status: () => agent.status() }));
    // The log level, changed at runtime for every part of the agent (children included).
    addLogLevelRoutes(admin.router, {
      levels: LOG_LEVELS,
      get: () => log.level,
      set: (level) => {
        if (isLogLevel(level)) setLogLevel(log, level);
      },
    }, (previous, level) => log.info({ previous, level }, 'log level changed through the admin endpoint'));
    // Live requests matching a filter (`weft tap`), from the weft:proxy:response channel.
    admin.router.get('/tap', tapHandler());
    // One JSON line per request when configured; a subscriber of the same channel.
    accessLog = config.telemetry.accessLog ? new AccessLog().start() : undefined;
    const bound = await admin.listen();
    log.info({ admin: bound.url, podsRoot, pins: bpfPinPath(config.bpf) }, 'weft agent started');
    const server = admin;
    return {
      running: agent,
      adminUrl: bound.url,
      log,
      waitMeshed: (count, timeoutMs) => waitMeshed(agent, count, timeoutMs),
      stop: async () => {
        accessLog?.close();
        await agent.stop();
        await server.close();
      },
    };
  } catch (error) {
    // Whatever started must not outlive a failed start: pins and attachments especially.
    accessLog?.close();
    if (running !== undefined) await running.stop().catch(() => undefined);
    else interceptor.close();
    await admin?.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Zero config in a cluster: when the agent runs in a pod (the kubelet sets KUBERNETES_SERVICE_HOST)
 * or a kubeconfig is named (KUBECONFIG), pods of this node and Services come from the API server,
 * unless a file is configured for them. The client library is loaded only then.
 */
async function clusterSources(config: WeftConfig): Promise<{ inventory: InventorySource; discovery: TableSource } | undefined> {
  const inCluster = process.env['KUBERNETES_SERVICE_HOST'] !== undefined && process.env['KUBERNETES_SERVICE_HOST'] !== '';
  const kubeconfig = process.env['KUBECONFIG'] !== undefined && process.env['KUBECONFIG'] !== '';
  if (!inCluster && !kubeconfig) return undefined;
  if (config.inventory.file !== undefined && config.discovery.file !== undefined) return undefined;
  const [{ loadKubeConfig }, { KubernetesInventorySource }, { KubernetesDiscoverySource }] = await Promise.all([
    import('../inventory/kubernetes-config.ts'),
    import('../inventory/kubernetes-source.ts'),
    import('../discovery/kubernetes-source.ts'),
  ]);
  const kubeConfig = loadKubeConfig(inCluster && !kubeconfig ? { inCluster: true } : {});
  return {
    inventory: new KubernetesInventorySource({ nodeName: config.node.name, kubeConfig }),
    discovery: new KubernetesDiscoverySource({ kubeConfig }),
  };
}

/** The OTLP exporter; its first failure is a warning, later ones debug (/status keeps the last). */
function otlpExporter(params: OtlpExporterParams, nodeName: string, log: Logger, onDrop: (reason: string, count: number) => void): OtlpHttpExporter {
  const tracingLog = log.child({ area: 'tracing' });
  let warned = false;
  return new OtlpHttpExporter(params, {
    clock: systemClock,
    random: Math.random,
    resource: weftResource(nodeName),
    onDrop,
    onError: (error) => {
      tracingLog[warned ? 'debug' : 'warn']({ code: error.code }, `${error.message} (further export failures are logged at debug; see /status)`);
      warned = true;
    },
  });
}

function resolvePodsRoot(configured: string): string {
  if (configured !== 'auto') {
    try {
      if (!statSync(configured).isDirectory()) throw new Error('not a directory');
    } catch (error) {
      throw new WeftError('WEFT_E_CONFIG_PODS_ROOT', `cgroup.podsRoot ${configured} is not a cgroup directory (${describeError(error)}); set it to the kubelet's pods cgroup (e.g. /sys/fs/cgroup/kubepods.slice) or "auto"`);
    }
    return configured;
  }
  const mount = findCgroup2Mount();
  if (mount === undefined) throw new WeftError('WEFT_E_HOST_NO_CGROUP2', 'no cgroup2 mount in /proc/mounts: weft needs cgroup v2 (run `weft check`)');
  const found = podsRootAuto(mount);
  if (found.kind !== 'found') {
    throw new WeftError('WEFT_E_CONFIG_PODS_ROOT', `no kubelet pods cgroup under ${mount} (looked for ${found.searched.join(', ')}); set cgroup.podsRoot or WEFT_PODS_CGROUP`);
  }
  return found.path;
}

async function waitMeshed(agent: RunningAgent, count: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const meshed = agent.meshedCount;
    if (meshed >= count) return meshed;
    if (performance.now() > deadline) {
      throw new WeftError('WEFT_E_CAPTURE_TIMEOUT', `only ${meshed} of ${count} pods meshed after ${timeoutMs} ms; see /status for each pod's reason`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
