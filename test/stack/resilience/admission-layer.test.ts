import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWeftError } from '../../../agent/errors.ts';
import type { AdmissionScope } from '../../../agent/resilience/admission.ts';
import { admissionParams } from '../../../agent/resilience/admission.ts';
import { admissionLayer } from '../../../agent/resilience/admission-layer.ts';
import { FakeClock } from '../../unit/balance/fake-clock.ts';
import type { FakeReq, FakeRes } from '../balance/fakes.ts';
import { FakeEndpoint, newContext, ok } from '../balance/fakes.ts';

function setup(routeMaxInFlight: number, sourceMaxShare = 0.5) {
  const clock = new FakeClock();
  const endpoint = new FakeEndpoint('10.0.0.1:80', clock, ok(100));
  const shed: Array<[AdmissionScope, string]> = [];
  const layer = admissionLayer<FakeReq, FakeRes>(
    { ...admissionParams, routeMaxInFlight, sourceMaxShare },
    { sourceOf: (req) => req.source ?? 'unknown', onShed: (scope, source) => shed.push([scope, source]) },
  );
  const service = layer.wrap(endpoint);
  const from = (source: string): Promise<FakeRes> => service.call({ method: 'GET', source }, newContext().cx);
  return { clock, endpoint, shed, layer, service, from };
}

describe('admissionLayer', () => {
  it('sheds above the route limit with a rejected WeftError whose message is the reason', async () => {
    const s = setup(3, 1);
    const held = [s.from('a'), s.from('b'), s.from('c')];
    await assert.rejects(s.from('d'), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, 'WEFT_E_RESILIENCE_LOAD_SHED');
      assert.equal(e.flags.rejected, true);
      assert.equal(e.message, 'load-shed: route in-flight limit 3 reached');
      return true;
    });
    assert.deepEqual(s.shed, [['route', 'd']]);
    assert.equal(s.endpoint.calls.length, 3, 'the shed request never reached the endpoint');
    await s.clock.advanceAsync(100);
    await Promise.all(held);
    assert.equal(s.service.admission.inFlight, 0);
    const after = s.from('d');
    await s.clock.advanceAsync(100);
    assert.equal((await after).status, 200);
  });

  it('keeps a noisy pod from taking the whole route', async () => {
    const s = setup(10);
    const noisy = Array.from({ length: 8 }, () => s.from('noisy').catch((e: unknown) => e));
    const quiet = Array.from({ length: 5 }, () => s.from('quiet'));
    await s.clock.advanceAsync(100);
    const noisyResults = await Promise.all(noisy);
    assert.equal(noisyResults.filter((r) => isWeftError(r) && r.code === 'WEFT_E_RESILIENCE_LOAD_SHED').length, 3);
    assert.deepEqual((await Promise.all(quiet)).map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.equal(s.shed.every(([, source]) => source === 'noisy'), true);
  });

  it('releases its slot when the request fails', async () => {
    const s = setup(1, 1);
    s.endpoint.behavior = { kind: 'refuse' };
    await assert.rejects(s.from('a'));
    assert.equal(s.service.admission.inFlight, 0);
  });

  it('names its limits for /status', () => {
    assert.equal(setup(100_000).layer.role, 'load-shed (100000 in flight, ≤ 50 % per source)');
  });
});
