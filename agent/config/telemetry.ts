// The `telemetry` section. `telemetry.slo`: the objectives every route is measured against
// (success rate; share of requests within a latency threshold), the burn rate at which a route is
// flagged, and overrides for single routes by name, as `proxy.routes` does. Defaults are read from
// telemetry/slo.ts (sloParams), never restated here. Ratios, not percents, as in
// proxy.route.failureAccrual.successRate.threshold.
import { z } from 'zod';
import { sloParams } from '../telemetry/slo.ts';
import type { SloParams, SloParamsFor } from '../telemetry/slo.ts';
import { routeNameProblem } from './proxy.ts';
import { decimal, section, wholeNumber } from './rules.ts';
import { tracingSchema } from './tracing.ts';

// Below 1: an objective of 100 % leaves no error budget, so every burn rate would be 0 or infinite.
const objectiveRule = (what: string): string => `must be a number more than 0 and less than 1 (share of requests ${what}, such as 0.999; 1 would leave no error budget)`;
const objective = (what: string): z.ZodNumber => z.number({ error: objectiveRule(what) }).gt(0, { error: objectiveRule(what) }).lt(1, { error: objectiveRule(what) });
const thresholdMs = (): z.ZodInt => wholeNumber(1, 86_400_000, 'milliseconds');
const alertBurnRate = (): z.ZodNumber => decimal(0, 100_000, { exclusiveMin: true, note: 'how many times faster than the objective allows the error budget is spent' });

const sloLatencyFull = section({
  thresholdMs: thresholdMs().prefault(sloParams.latencyThresholdMs),
  objective: objective('within thresholdMs').prefault(sloParams.latencyObjective),
});

const sloOverride = section({
  successRate: objective('that succeed').optional(),
  latency: section({ thresholdMs: thresholdMs().optional(), objective: objective('within thresholdMs').optional() }).optional(),
  alertBurnRate: alertBurnRate().optional(),
});

/** A route name as proxy.routes takes it, or "passthrough" (every address dialled directly shares it). */
const sloRouteName = z.string().superRefine((name, ctx) => {
  if (name === 'passthrough') return;
  const problem = routeNameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `${problem}; or "passthrough" for every address dialled directly` });
});

export const sloSchema = section({
  successRate: objective('that succeed').prefault(sloParams.successObjective),
  latency: sloLatencyFull.prefault({}),
  alertBurnRate: alertBurnRate().prefault(sloParams.alertBurnRate),
  routes: z.record(sloRouteName, sloOverride, {
    error: (issue) => (issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? 'must be a route name') : 'must be a mapping from route name to objectives of that route'),
  }).prefault({}),
});

export type SloConfig = z.output<typeof sloSchema>;

export const telemetrySchema = section({
  slo: sloSchema.prefault({}),
  // One JSON line per request on stdout (telemetry/access-log.ts); off by default: a busy node
  // writes a lot of them.
  accessLog: z.boolean({ error: 'must be true or false' }).prefault(false),
  // Spans per proxied request to an OTLP collector, and trace context propagation (config/tracing.ts).
  tracing: tracingSchema.prefault({}),
});

export type TelemetryConfig = z.output<typeof telemetrySchema>;

/** The objectives of each route by name: its override laid over the defaults, setting by setting. */
export function sloParamsFromConfig(slo: SloConfig): SloParamsFor {
  const base: SloParams = {
    successObjective: slo.successRate,
    latencyThresholdMs: slo.latency.thresholdMs,
    latencyObjective: slo.latency.objective,
    alertBurnRate: slo.alertBurnRate,
  };
  const byName = new Map<string, SloParams>();
  for (const [name, over] of Object.entries(slo.routes)) {
    byName.set(name, {
      successObjective: over.successRate ?? base.successObjective,
      latencyThresholdMs: over.latency?.thresholdMs ?? base.latencyThresholdMs,
      latencyObjective: over.latency?.objective ?? base.latencyObjective,
      alertBurnRate: over.alertBurnRate ?? base.alertBurnRate,
    });
  }
  return (name) => byName.get(name) ?? base;
}
