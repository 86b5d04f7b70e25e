// The `proxy` section: protocol detection, the HTTP/1 server's timers, the parameters every
// outbound route starts from (`proxy.route`), and overrides for single routes (`proxy.routes`).
// Defaults are read from the params objects of the code they configure, never restated here, so a
// changed default in the proxy is a changed default in the config. Values use the units operators
// know from Linkerd: milliseconds, retry statuses as in `retry.linkerd.io/http` ("5xx,429"), gRPC
// codes as in `retry.linkerd.io/grpc` ("unavailable,deadline-exceeded").
//
// Each route setting is described once, as a pair: the full schema (with its default) used for
// `proxy.route`, and the optional one (no default) used for an override, so that an override holds
// only what it sets and everything else comes from `proxy.route`. Rules between settings (a per-try
// timeout shorter than the route timeout, ejection backoff min ≤ max, budget fields of the budget's
// kind) are checked on each route as merged, and reported at the setting that breaks them.
import { isIP, SocketAddress } from 'node:net';
import { z } from 'zod';
import { balanceParams } from '../balance/balance-layer.ts';
import { detectParams } from '../proxy/detect/params.ts';
import { http1ServerParams } from '../proxy/http1/server-connection.ts';
import { admissionParams } from '../resilience/admission.ts';
import { deadlineParams } from '../resilience/deadline.ts';
import { failureAccrualParams, successRateParams } from '../resilience/failure-accrual.ts';
import { concurrencyBudgetParams, ratioBudgetParams } from '../resilience/retry-budget.ts';
import type { RetryBudgetParams } from '../resilience/retry-budget.ts';
import { GRPC_CODES, parseGrpcCodes, parseRetryStatuses, retryConditions, retryPolicyParams } from '../resilience/retry-policy.ts';
import type { ParseResult, StatusRange } from '../resilience/retry-policy.ts';
import { decimal, port, section, wholeNumber } from './rules.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

// ---- one setting, with and without its default ----

interface Pair<Full extends z.ZodType, Partial extends z.ZodType> {
  /** In `proxy.route`: absent means the default. */
  readonly full: Full;
  /** In a `proxy.routes` override: absent means "as in proxy.route". */
  readonly partial: Partial;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any pair; the mapped types below keep each one's own types.
type AnyPair = Pair<any, any>;

function leaf<S extends z.ZodType>(schema: S, value: z.input<S>): Pair<z.ZodPrefault<S>, z.ZodOptional<S>> {
  return { full: schema.prefault(value as never), partial: schema.optional() };
}

type Fulls<T extends Record<string, AnyPair>> = { [K in keyof T]: T[K]['full'] };
type Partials<T extends Record<string, AnyPair>> = { [K in keyof T]: T[K]['partial'] };

function group<T extends Record<string, AnyPair>>(pairs: T): Pair<z.ZodPrefault<z.ZodObject<Fulls<T>, z.core.$strict>>, z.ZodOptional<z.ZodObject<Partials<T>, z.core.$strict>>> {
  const full: Record<string, z.ZodType> = {};
  const partial: Record<string, z.ZodType> = {};
  for (const [key, pair] of Object.entries(pairs)) {
    full[key] = pair.full as z.ZodType;
    partial[key] = pair.partial as z.ZodType;
  }
  return {
    full: section(full as Fulls<T>).prefault({} as never),
    partial: section(partial as Partials<T>).optional(),
  };
}

// ---- Linkerd's retry syntax ----

/** `5xx`, `500-504`, `429`, joined by commas (the syntax parseRetryStatuses reads). */
export function formatRetryStatuses(ranges: readonly StatusRange[]): string {
  return ranges.map(([min, max]) => (min === 500 && max === 599 ? '5xx' : min === max ? `${min}` : `${min}-${max}`)).join(',');
}

/** gRPC codes by name, joined by commas (the syntax parseGrpcCodes reads). */
export function formatGrpcCodes(codes: readonly number[]): string {
  const names = new Map([...GRPC_CODES].map(([name, code]) => [code, name]));
  return codes.map((code) => names.get(code) ?? String(code)).join(',');
}

/**
 * A list in Linkerd's annotation syntax: text, or (for YAML's sake) a number (`on: 503`) or a
 * list (`on: [500, 503]`), kept as the text it stands for. Checked with the proxy's own parser.
 */
function linkerdList(parse: (text: string) => ParseResult<unknown>, rule: string): z.ZodPreprocess<z.ZodString> {
  return z.preprocess(
    (value) => (typeof value === 'number' ? String(value) : Array.isArray(value) && value.every((v) => typeof v === 'number' || typeof v === 'string') ? value.join(',') : value),
    z.string({ error: rule }).superRefine((text, ctx) => {
      const parsed = parse(text);
      if (parsed.kind === 'invalid') ctx.addIssue({ code: 'custom', message: `${rule}; ${parsed.reason}` });
    }),
  );
}

const statusesRule = 'must be HTTP statuses as in retry.linkerd.io/http: "5xx", "gateway-error", "503" or "500-504", comma-separated ("" for none)';
const grpcCodesRule = 'must be gRPC codes as in retry.linkerd.io/grpc: names such as "unavailable,deadline-exceeded" or numbers 1 to 16, comma-separated ("" for none)';

// ---- route settings ----

const retryMethods = ['idempotent', 'any'] as const;
const balancerAlgorithms = ['p2c-peak-ewma', 'p2c-least-loaded', 'round-robin', 'aperture'] as const satisfies ReadonlyArray<(typeof balanceParams)['algorithm']>;
const budgetKinds = ['ratio', 'concurrency'] as const satisfies ReadonlyArray<RetryBudgetParams['kind']>;

const budgetRatio = (): z.ZodNumber => decimal(0, 1000, { note: 'retries per request' });
const budgetMinPerSecond = (): z.ZodNumber => decimal(0, 1_000_000, { note: 'retries per second always allowed' });
const budgetTtlMs = (): z.ZodInt => wholeNumber(100, HOUR_MS, 'milliseconds');
const budgetMin = (): z.ZodInt => wholeNumber(0, 100_000, 'retries in flight');
const budgetKindRule = `must be one of ${budgetKinds.join(', ')}`;

// The budget is one of two kinds, each with its own fields; `kind` may be left out for ratio, the
// default kind (retryBudgetParams), so `budget: { ratio: 0.1 }` means what it says.
const budgetFull = z
  .discriminatedUnion(
    'kind',
    [
      section({
        kind: z.literal('ratio', { error: budgetKindRule }).prefault('ratio'),
        ratio: budgetRatio().prefault(ratioBudgetParams.ratio),
        minPerSecond: budgetMinPerSecond().prefault(ratioBudgetParams.minRetriesPerSec),
        ttlMs: budgetTtlMs().prefault(ratioBudgetParams.ttlMs),
      }),
      section({
        kind: z.literal('concurrency', { error: budgetKindRule }),
        ratio: budgetRatio().prefault(concurrencyBudgetParams.ratio),
        min: budgetMin().prefault(concurrencyBudgetParams.minConcurrency),
      }),
    ],
    { error: (issue) => (issue.code === 'invalid_union' ? budgetKindRule : 'must be a mapping of settings (kind: ratio with ratio, minPerSecond, ttlMs; or kind: concurrency with ratio, min)') },
  )
  .prefault({});

const budgetPartial = section({
  kind: z.enum(budgetKinds, { error: budgetKindRule }).optional(),
  ratio: budgetRatio().optional(),
  minPerSecond: budgetMinPerSecond().optional(),
  ttlMs: budgetTtlMs().optional(),
  min: budgetMin().optional(),
}).optional();

const budgetFields: Readonly<Record<RetryBudgetParams['kind'], readonly string[]>> = { ratio: ['ratio', 'minPerSecond', 'ttlMs'], concurrency: ['ratio', 'min'] };

const retryPair = group({
  limit: leaf(wholeNumber(0, 10, 'retries per request', '0: no retries'), retryPolicyParams.maxRetries),
  perTryTimeoutMs: leaf(wholeNumber(0, DAY_MS, 'milliseconds', '0: only the route timeout bounds a try'), retryPolicyParams.perTryTimeoutMs ?? 0),
  on: leaf(linkerdList(parseRetryStatuses, statusesRule), formatRetryStatuses(retryConditions.statuses)),
  grpcCodes: leaf(linkerdList(parseGrpcCodes, grpcCodesRule), formatGrpcCodes(retryConditions.grpcCodes)),
  methods: leaf(z.enum(retryMethods, { error: `must be one of ${retryMethods.join(', ')}` }), retryConditions.methods),
  maxBodyBytes: leaf(wholeNumber(0, 64 * 1024 * 1024, 'bytes', '0: never replay a body'), retryPolicyParams.maxBodyBytes),
  budget: { full: budgetFull, partial: budgetPartial },
});

const balancerPair = group({
  algorithm: leaf(z.enum(balancerAlgorithms, { error: `must be one of ${balancerAlgorithms.join(', ')}` }), balanceParams.algorithm),
  defaultRttMs: leaf(decimal(0, 60_000, { exclusiveMin: true, note: 'milliseconds' }), balanceParams.peakEwma.defaultRttMs),
  decayMs: leaf(wholeNumber(1, HOUR_MS, 'milliseconds'), balanceParams.peakEwma.decayMs),
  panicThresholdPercent: leaf(decimal(0, 100, { note: '100: always honour ejections' }), balanceParams.panic.panicThresholdPercent),
});

const failureAccrualPair = group({
  consecutiveFailures: leaf(wholeNumber(0, 1000, 'failures', '0: off'), failureAccrualParams.consecutiveFailures),
  backoff: group({
    minMs: leaf(wholeNumber(0, DAY_MS, 'milliseconds'), failureAccrualParams.backoff.minMs),
    maxMs: leaf(wholeNumber(1, DAY_MS, 'milliseconds'), failureAccrualParams.backoff.maxMs),
  }),
  successRate: group({
    threshold: leaf(decimal(0, 1, { note: '0: off' }), failureAccrualParams.successRate?.threshold ?? 0),
    windowMs: leaf(wholeNumber(100, HOUR_MS, 'milliseconds'), (failureAccrualParams.successRate ?? successRateParams).windowMs),
    minRequests: leaf(wholeNumber(1, 1_000_000, 'requests'), (failureAccrualParams.successRate ?? successRateParams).minRequests),
  }),
});

const loadShedPair = group({
  maxInFlight: leaf(wholeNumber(1, 10_000_000, 'requests'), admissionParams.routeMaxInFlight),
  sourceMaxShare: leaf(decimal(0, 1, { exclusiveMin: true, note: 'share of maxInFlight one pod may hold' }), admissionParams.sourceMaxShare),
});

const routePair = group({
  timeoutMs: leaf(wholeNumber(0, DAY_MS, 'milliseconds', '0: no timeout'), deadlineParams.routeTimeoutMs ?? 0),
  retry: retryPair,
  balancer: balancerPair,
  failureAccrual: failureAccrualPair,
  loadShed: loadShedPair,
});

/** Every setting of a route, resolved. */
export type RouteConfig = z.output<typeof routePair.full>;
/** What `proxy.routes.<name>` may set: any part of a route, nothing else. */
export type RouteOverride = NonNullable<z.output<typeof routePair.partial>>;

// ---- route names ----

const dnsLabel = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
// `<namespace>/<service>:<port name or number>`: the names the service router gives routes.
const serviceRoutePattern = new RegExp(`^${dnsLabel}/${dnsLabel}:([a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?)$`);
const routeNameRule =
  'must be a route name: "<namespace>/<service>:<port name or number>" (a Service port, e.g. "default/web:http"), or "<ip>:<port>" for an address dialled directly ("10.0.0.1:80", "[fd00::1]:80")';

/** Why `name` can never name a route, or undefined when it can. */
export function routeNameProblem(name: string): string | undefined {
  if (serviceRoutePattern.test(name)) {
    const portPart = name.slice(name.lastIndexOf(':') + 1);
    return /^\d+$/.test(portPart) && !isPortNumber(Number(portPart)) ? `${routeNameRule}; port ${portPart} is not 1 to 65535` : undefined;
  }
  const address = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):(\d{1,5})$/.exec(name);
  if (address === null) return routeNameRule;
  const portNumber = Number(address[3]);
  if (!isPortNumber(portNumber)) return `${routeNameRule}; port ${portNumber} is not 1 to 65535`;
  const v4 = address[1];
  if (v4 !== undefined) return isIP(v4) === 4 ? undefined : `${routeNameRule}; ${v4} is not an IPv4 address`;
  const v6 = address[2] ?? '';
  if (isIP(v6) !== 6) return `${routeNameRule}; ${v6} is not an IPv6 address`;
  // Routes are named by the address as Node prints it (inet_ntop: lowercase, shortest form); another spelling
  // of the same address would never match.
  const canonical = new SocketAddress({ address: v6, family: 'ipv6' }).address;
  return canonical === v6 ? undefined : `must be written as [${canonical}]:${portNumber}, the form the proxy names this route by`;
}

function isPortNumber(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

// ---- merging an override onto the defaults ----

/** `base` with every value `over` sets (undefined: not set) in its place; one level deep. */
function overlay<T extends object>(base: T, over: { readonly [K in keyof T]?: T[K] | undefined } | undefined): T {
  if (over === undefined) return base;
  const out = { ...base };
  for (const key of Object.keys(over) as Array<keyof T>) {
    const value = over[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function mergeBudget(base: RouteConfig['retry']['budget'], over: NonNullable<NonNullable<RouteOverride['retry']>['budget']> | undefined): RouteConfig['retry']['budget'] {
  if (over === undefined) return base;
  const kind = over.kind ?? base.kind;
  if (kind === 'ratio') {
    // Switching kinds starts from that kind's defaults, not from the other kind's values.
    const from = base.kind === 'ratio' ? base : { kind, ratio: ratioBudgetParams.ratio, minPerSecond: ratioBudgetParams.minRetriesPerSec, ttlMs: ratioBudgetParams.ttlMs };
    return { kind, ratio: over.ratio ?? from.ratio, minPerSecond: over.minPerSecond ?? from.minPerSecond, ttlMs: over.ttlMs ?? from.ttlMs };
  }
  const from = base.kind === 'concurrency' ? base : { kind, ratio: concurrencyBudgetParams.ratio, min: concurrencyBudgetParams.minConcurrency };
  return { kind, ratio: over.ratio ?? from.ratio, min: over.min ?? from.min };
}

/** A route's settings: `proxy.route` with the route's override laid over it, setting by setting. */
export function mergeRoute(base: RouteConfig, override: RouteOverride | undefined): RouteConfig {
  if (override === undefined) return base;
  const { retry, balancer, failureAccrual, loadShed } = override;
  return {
    timeoutMs: override.timeoutMs ?? base.timeoutMs,
    retry: { ...overlay(base.retry, { ...retry, budget: undefined }), budget: mergeBudget(base.retry.budget, retry?.budget) },
    balancer: overlay(base.balancer, balancer),
    failureAccrual: {
      consecutiveFailures: failureAccrual?.consecutiveFailures ?? base.failureAccrual.consecutiveFailures,
      backoff: overlay(base.failureAccrual.backoff, failureAccrual?.backoff),
      successRate: overlay(base.failureAccrual.successRate, failureAccrual?.successRate),
    },
    loadShed: overlay(base.loadShed, loadShed),
  };
}

// ---- rules between settings ----

export interface RouteProblem {
  /** Path under `proxy`. */
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * What is wrong with a route as merged. `at` is where the route's settings live (`['route']` or
 * `['routes', name]`); `override` says which settings the route itself set, so a problem is
 * reported at the setting written in the file rather than at an inherited one.
 */
export function routeProblems(route: RouteConfig, at: readonly PropertyKey[], override?: RouteOverride): RouteProblem[] {
  const problems: RouteProblem[] = [];
  const set = (path: readonly string[]): boolean => override === undefined || hasPath(override, path);
  const where = (path: readonly string[]): string => (override === undefined || hasPath(override, path) ? '' : ', from proxy.route');

  const { timeoutMs } = route;
  const { perTryTimeoutMs } = route.retry;
  // A try that times out is retried only while the route's deadline allows; at or past it, the
  // per-try timeout could only ever coincide with the deadline, so the setting would do nothing.
  // A route that sets neither side inherits the problem, which is reported at proxy.route once.
  if (perTryTimeoutMs > 0 && timeoutMs > 0 && perTryTimeoutMs >= timeoutMs && (set(['retry', 'perTryTimeoutMs']) || set(['timeoutMs']))) {
    const onPerTry = set(['retry', 'perTryTimeoutMs']);
    problems.push(
      onPerTry
        ? { path: [...at, 'retry', 'perTryTimeoutMs'], message: `must be less than the route's timeoutMs (${timeoutMs}${where(['timeoutMs'])}): a try that times out at the deadline can never be retried; 0 turns the per-try timeout off` }
        : { path: [...at, 'timeoutMs'], message: `must be more than the route's retry.perTryTimeoutMs (${perTryTimeoutMs}, from proxy.route), or a timed-out try could never be retried; 0 means no route timeout` },
    );
  }
  const { minMs, maxMs } = route.failureAccrual.backoff;
  if (minMs > maxMs && (set(['failureAccrual', 'backoff', 'minMs']) || set(['failureAccrual', 'backoff', 'maxMs']))) {
    const onMin = set(['failureAccrual', 'backoff', 'minMs']);
    problems.push(
      onMin
        ? { path: [...at, 'failureAccrual', 'backoff', 'minMs'], message: `must be at most failureAccrual.backoff.maxMs (${maxMs}${where(['failureAccrual', 'backoff', 'maxMs'])})` }
        : { path: [...at, 'failureAccrual', 'backoff', 'maxMs'], message: `must be at least failureAccrual.backoff.minMs (${minMs}, from proxy.route)` },
    );
  }
  const budget = override?.retry?.budget;
  if (override !== undefined && budget !== undefined) {
    const kind = route.retry.budget.kind;
    for (const field of ['minPerSecond', 'ttlMs', 'min'] as const) {
      if (budget[field] === undefined || budgetFields[kind].includes(field)) continue;
      const other = kind === 'ratio' ? 'concurrency' : 'ratio';
      const from = budget.kind === undefined ? ' (from proxy.route)' : '';
      problems.push({ path: [...at, 'retry', 'budget', field], message: `is a setting of kind: ${other} budgets; this route's budget is kind: ${kind}${from}; set kind: ${other} here to switch` });
    }
  }
  return problems;
}

function hasPath(value: unknown, path: readonly string[]): boolean {
  let current = value;
  for (const part of path) {
    if (typeof current !== 'object' || current === null) return false;
    current = (current as Record<string, unknown>)[part];
  }
  return current !== undefined;
}

// ---- the section ----

const detectSchema = section({
  timeoutMs: wholeNumber(100, 300_000, 'milliseconds').prefault(detectParams.timeoutMs),
  serverFirstPorts: z
    .array(port(), { error: 'must be a list of port numbers (1 to 65535)' })
    .max(256, { error: 'must list at most 256 ports' })
    .refine((ports) => new Set(ports).size === ports.length, { error: 'must not list a port twice' })
    .prefault(() => [...detectParams.serverFirstPorts]),
});

const http1Schema = section({
  headerTimeoutMs: wholeNumber(100, HOUR_MS, 'milliseconds').prefault(http1ServerParams.headerTimeoutMs),
  idleTimeoutMs: wholeNumber(100, DAY_MS, 'milliseconds').prefault(http1ServerParams.idleTimeoutMs),
});

const routeOverrides = z.record(z.string().superRefine((name, ctx) => {
  const problem = routeNameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
}), routePair.partial.unwrap(), {
  // A bad key is reported with the key rule's own message, not the mapping's.
  error: (issue) => (issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? routeNameRule) : 'must be a mapping from route name to settings of that route'),
});

export const proxySchema = section({
  detect: detectSchema.prefault({}),
  http1: http1Schema.prefault({}),
  route: routePair.full,
  routes: routeOverrides.prefault({}),
}).superRefine((proxy, ctx) => {
  for (const problem of routeProblems(proxy.route, ['route'])) ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
  for (const [name, override] of Object.entries(proxy.routes)) {
    for (const problem of routeProblems(mergeRoute(proxy.route, override), ['routes', name], override)) {
      ctx.addIssue({ code: 'custom', path: [...problem.path], message: problem.message });
    }
  }
});

export type ProxyConfig = z.output<typeof proxySchema>;
