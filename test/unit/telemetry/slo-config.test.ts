import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../agent/config/load.ts';
import { ConfigError } from '../../../agent/config/problems.ts';
import { sloParamsFromConfig } from '../../../agent/config/telemetry.ts';
import { sloParams } from '../../../agent/telemetry/slo.ts';

function problems(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.problems.map((p) => ({ path: p.path, message: p.message }));
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

describe('telemetry.slo configuration', () => {
  it('defaults to the objectives in telemetry/slo.ts', () => {
    const slo = parseConfig({}).telemetry.slo;
    assert.deepEqual(slo, { successRate: sloParams.successObjective, latency: { thresholdMs: sloParams.latencyThresholdMs, objective: sloParams.latencyObjective }, alertBurnRate: sloParams.alertBurnRate, routes: {} });
    assert.deepEqual(sloParamsFromConfig(slo)('shop/web:http'), sloParams);
  });

  it('a route override sets only what it names; other routes keep the configured defaults', () => {
    const slo = parseConfig({ telemetry: { slo: { successRate: 0.99, routes: { 'shop/web:http': { latency: { thresholdMs: 250 } }, passthrough: { successRate: 0.9 } } } } }).telemetry.slo;
    const paramsFor = sloParamsFromConfig(slo);
    assert.deepEqual(paramsFor('shop/web:http'), { ...sloParams, successObjective: 0.99, latencyThresholdMs: 250 });
    assert.deepEqual(paramsFor('passthrough'), { ...sloParams, successObjective: 0.9 });
    assert.deepEqual(paramsFor('shop/other:http'), { ...sloParams, successObjective: 0.99 });
  });

  it('refuses objectives outside (0, 1], bad thresholds and names that can never be a route', () => {
    const found = problems({ telemetry: { slo: { successRate: 99.9, latency: { thresholdMs: 0 }, routes: { 'not a route': {} } } } });
    const paths = found.map((p) => p.path).sort();
    assert.deepEqual(paths, ['telemetry.slo.latency.thresholdMs', 'telemetry.slo.routes["not a route"]', 'telemetry.slo.successRate'], JSON.stringify(found));
    assert.match(found.find((p) => p.path === 'telemetry.slo.successRate')?.message ?? '', /more than 0 and less than 1/);
    assert.match(problems({ telemetry: { slo: { latency: { objective: 1 } } } })[0]?.message ?? '', /1 would leave no error budget/);
    assert.match(problems({ telemetry: { slo: { sucessRate: 0.9 } } })[0]?.message ?? '', /did you mean "successRate"/);
  });
});
