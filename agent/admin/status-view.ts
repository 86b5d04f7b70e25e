// What a person reads from /status, as plain rows: the agent and its host, pods, routes with their
// success rate, latency, SLO burn and budget, endpoints with load and breaker state, and the latest
// failures. Shared by the HTML page (admin/status-page.ts) and `weft status` (cli/status.ts).
//
// The document is read loosely: an agent of another version may add or drop fields, and a reader
// should still show what it can, so every field is optional and a malformed item is skipped.
import { z } from 'zod';

const num = z.number().nullable().optional();
const str = z.string().nullable().optional();

const countersSchema = z.object({ captured: num, bypassed: num, failed: num, accepted: num, unaccepted: num }).partial();
const podSchema = z.object({
  namespace: str, name: str, state: str, meshed: z.boolean().optional(), reason: str, cgroupPath: str, counters: countersSchema.nullable().optional(),
});
const windowSchema = z.object({
  requests: num, failures: num, slow: num, successRate: num,
  burnRate: z.object({ success: num, latency: num }).partial().optional(),
}).partial();
const sloSchema = z.object({
  authority: str,
  objectives: z.object({ success: num, latency: z.object({ thresholdMs: num, objective: num }).partial().optional(), alertBurnRate: num }).partial().optional(),
  windows: z.record(z.string(), windowSchema).optional(),
  latencyMs: z.object({ p50: num, p99: num }).partial().optional(),
  burning: z.array(z.string()).optional(),
});
const endpointSchema = z.object({ key: str, pending: num, rttMs: num, available: z.boolean().optional() });
const routeSchema = z.object({
  name: str, authority: str, inFlight: num, retryBudget: str, idleMs: num, stack: z.array(z.string()).optional(),
  balancer: z.object({ algorithm: str, endpoints: z.array(z.unknown()).optional() }).partial().optional(),
  breakers: z.array(z.object({ endpoint: str, state: str })).optional(),
  slo: sloSchema.nullable().optional(),
});
const failureSchema = z.object({ at: str, authority: str, source: str, status: num, error: str, reason: str, latencyMs: num });
const agentSchema = z.object({
    version: str, pid: num, startedAt: str,
    ready: z.object({ ready: z.boolean().optional(), reasons: z.array(z.string()).optional() }).optional(),
});
const hostSchema = z.record(z.string(), z.unknown());
const listSchema = z.array(z.unknown());
const failuresSchema = z.object({ total: num, recent: z.array(z.unknown()).optional() });
const connectionsSchema = z.object({ totals: z.record(z.string(), z.unknown()).optional() });

export interface PodRow {
  readonly name: string;
  readonly state: string;
  readonly meshed: boolean;
  readonly reason: string;
  readonly captured: number | undefined;
  readonly accepted: number | undefined;
  readonly bypassed: number | undefined;
  readonly failed: number | undefined;
}

export interface RouteRow {
  readonly name: string;
  readonly authority: string;
  /** Over the last 5 minutes; undefined without requests. */
  readonly requests5m: number | undefined;
  readonly successRate5m: number | undefined;
  readonly successRate1h: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly inFlight: number | undefined;
  readonly budget: string;
  /** The route's layers, outermost first. */
  readonly stack: readonly string[];
  readonly successObjective: number | undefined;
  readonly latencyObjective: { readonly thresholdMs: number | undefined; readonly objective: number | undefined };
  readonly burn: { readonly success5m: number | undefined; readonly success1h: number | undefined; readonly latency5m: number | undefined; readonly latency1h: number | undefined };
  readonly burning: readonly string[];
}

export interface EndpointRow {
  readonly route: string;
  readonly endpoint: string;
  /** The breaker's state (closed, open, half-open), or "unknown". */
  readonly state: string;
  readonly available: boolean | undefined;
  readonly pending: number | undefined;
  readonly rttMs: number | undefined;
}

export interface FailureRow {
  readonly at: string;
  readonly route: string;
  readonly source: string;
  readonly status: number | undefined;
  readonly reason: string;
}

export interface StatusView {
  readonly agent: { readonly version: string; readonly pid: number | undefined; readonly startedAt: string | undefined; readonly ready: boolean | undefined; readonly reasons: readonly string[] };
  readonly host: { readonly node: string; readonly hostname: string; readonly kernel: string; readonly distro: string; readonly cpus: string; readonly memory: string; readonly nodeJs: string };
  readonly pods: readonly PodRow[];
  readonly routes: readonly RouteRow[];
  readonly endpoints: readonly EndpointRow[];
  readonly failures: readonly FailureRow[];
  readonly failuresTotal: number | undefined;
  readonly connections: Readonly<Record<string, unknown>> | undefined;
}

const opt = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

/** One part of the document by its schema; a part of another shape reads as absent. */
function part<S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

function items<S extends z.ZodType>(schema: S, list: readonly unknown[] | undefined): Array<z.output<S>> {
  return (list ?? []).flatMap((item) => {
    const parsed = schema.safeParse(item);
    return parsed.success ? [parsed.data] : [];
  });
}

function fact(value: unknown): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  return '?';
}

function sub(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** The status document as rows; undefined when it is not a weft status document at all. */
export function statusView(document: unknown): StatusView | undefined {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined;
  const record = document as Record<string, unknown>;
  const doc = {
    agent: part(agentSchema, record['agent']),
    pods: part(listSchema, record['pods']),
    routes: part(listSchema, record['routes']),
    slo: part(listSchema, record['slo']),
    failures: part(failuresSchema, record['failures']),
    connections: part(connectionsSchema, record['connections']),
  };
  const host = part(hostSchema, record['host']) ?? {};
  const memory = sub(sub(host, 'memory'), 'totalBytes');
  const routes = items(routeSchema, doc.routes);
  const sloByAuthority = new Map(items(sloSchema, doc.slo).map((s) => [s.authority ?? '', s]));
  const routeRows: RouteRow[] = routes.map((route) => {
    const slo = route.slo ?? sloByAuthority.get(route.authority ?? route.name ?? '');
    const w5 = slo?.windows?.['5m'];
    const w1 = slo?.windows?.['1h'];
    return {
      name: route.name ?? '?',
      authority: route.authority ?? route.name ?? '?',
      requests5m: opt(w5?.requests),
      successRate5m: opt(w5?.successRate),
      successRate1h: opt(w1?.successRate),
      p50Ms: opt(slo?.latencyMs?.p50),
      p99Ms: opt(slo?.latencyMs?.p99),
      inFlight: opt(route.inFlight),
      budget: route.retryBudget ?? '',
      stack: route.stack ?? [],
      successObjective: opt(slo?.objectives?.success),
      latencyObjective: { thresholdMs: opt(slo?.objectives?.latency?.thresholdMs), objective: opt(slo?.objectives?.latency?.objective) },
      burn: { success5m: opt(w5?.burnRate?.success), success1h: opt(w1?.burnRate?.success), latency5m: opt(w5?.burnRate?.latency), latency1h: opt(w1?.burnRate?.latency) },
      burning: slo?.burning ?? [],
    };
  });
  // Busiest first: a person looks at the top of the list.
  routeRows.sort((a, b) => (b.requests5m ?? 0) - (a.requests5m ?? 0) || a.name.localeCompare(b.name));
  const endpoints: EndpointRow[] = routes.flatMap((route) => {
    const states = new Map((route.breakers ?? []).map((b) => [b.endpoint ?? '', b.state ?? 'unknown']));
    return items(endpointSchema, route.balancer?.endpoints).map((e) => ({
      route: route.name ?? '?',
      endpoint: e.key ?? '?',
      state: states.get(e.key ?? '') ?? 'unknown',
      available: e.available,
      pending: opt(e.pending),
      rttMs: opt(e.rttMs),
    }));
  });
  return {
    agent: {
      version: doc.agent?.version ?? '?',
      pid: opt(doc.agent?.pid),
      startedAt: opt(doc.agent?.startedAt),
      ready: doc.agent?.ready?.ready,
      reasons: doc.agent?.ready?.reasons ?? [],
    },
    host: {
      node: fact(host['nodeName']),
      hostname: fact(host['hostname']),
      kernel: fact(host['osRelease'] ?? sub(sub(host, 'os'), 'kernel')),
      distro: [fact(sub(sub(host, 'os'), 'distro')), fact(sub(sub(host, 'os'), 'release'))].filter((part) => part !== '?').join(' ') || '?',
      cpus: fact(sub(sub(host, 'cpu'), 'cores')),
      memory: typeof memory === 'number' ? `${(memory / 2 ** 30).toFixed(1)} GiB` : '?',
      nodeJs: fact(host['node']),
    },
    pods: items(podSchema, doc.pods).map((pod) => ({
      name: `${pod.namespace ?? '?'}/${pod.name ?? '?'}`,
      state: pod.state ?? (pod.meshed === true ? 'meshed' : '?'),
      meshed: pod.meshed === true || pod.state === 'meshed',
      reason: pod.state === 'meshed' ? '' : (pod.reason ?? ''),
      captured: opt(pod.counters?.captured),
      accepted: opt(pod.counters?.accepted),
      bypassed: opt(pod.counters?.bypassed),
      failed: opt(pod.counters?.failed),
    })),
    routes: routeRows,
    endpoints,
    failures: items(failureSchema, doc.failures?.recent).map((f) => ({
      at: f.at ?? '',
      route: f.authority ?? '?',
      source: f.source ?? '',
      status: opt(f.status),
      reason: f.reason ?? f.error ?? '?',
    })),
    failuresTotal: opt(doc.failures?.total),
    connections: doc.connections?.totals,
  };
}

/** 0.9987 → "99.87 %"; undefined → "-". */
export function percent(value: number | undefined): string {
  if (value === undefined) return '-';
  const p = value * 100;
  // Two decimals near 100 % (where the nines matter), one below; no trailing zeros.
  const text = p >= 99 ? p.toFixed(2) : p.toFixed(1);
  return `${text.includes('.') ? text.replace(/\.?0+$/, '') : text} %`;
}

/** 12.345 → "12 ms", 0.42 → "0.42 ms", 2345 → "2.3 s"; undefined → "-". */
export function millis(value: number | undefined): string {
  if (value === undefined) return '-';
  if (value >= 1000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 10) return `${Math.round(value)} ms`;
  return `${value.toFixed(value >= 1 ? 1 : 2)} ms`;
}

/** A burn rate: "0", "0.8", "14.4", "∞"; undefined → "-". */
export function burn(value: number | undefined): string {
  if (value === undefined) return '-';
  if (!Number.isFinite(value)) return '∞';
  if (value === 0) return '0';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}
