import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MESH_ANNOTATION, meshDecision } from '../../../agent/inventory/mesh-policy.ts';
import type { NamespaceInfo, PodInfo, PodPhase } from '../../../agent/inventory/types.ts';
import { UID_A } from './fixtures.ts';

function pod(overrides: Partial<PodInfo> & { annotations?: Record<string, string> } = {}): PodInfo {
  return { namespace: 'demo', name: 'web', uid: UID_A, labels: {}, annotations: {}, podIPs: ['10.1.0.5'], hostNetwork: false, phase: 'Running', ...overrides };
}

function ns(annotations: Record<string, string> = {}): NamespaceInfo {
  return { name: 'demo', labels: {}, annotations };
}

describe('mesh policy', () => {
  it('meshes a pod by default, with or without a listed namespace', () => {
    assert.deepEqual(meshDecision(pod(), undefined), { meshed: true, reason: 'meshed by default' });
    assert.deepEqual(meshDecision(pod(), ns()), { meshed: true, reason: 'meshed by default' });
  });

  it('a pod annotated disabled is not meshed', () => {
    assert.deepEqual(meshDecision(pod({ annotations: { [MESH_ANNOTATION]: 'disabled' } }), ns()), {
      meshed: false,
      reason: 'pod annotation weft.io/mesh: disabled',
    });
  });

  it('a namespace annotated disabled opts its pods out', () => {
    assert.deepEqual(meshDecision(pod(), ns({ [MESH_ANNOTATION]: 'disabled' })), {
      meshed: false,
      reason: 'namespace demo annotation weft.io/mesh: disabled',
    });
  });

  it("a pod annotated enabled overrides its namespace's disabled", () => {
    assert.deepEqual(meshDecision(pod({ annotations: { [MESH_ANNOTATION]: 'enabled' } }), ns({ [MESH_ANNOTATION]: 'disabled' })), {
      meshed: true,
      reason: "pod annotation weft.io/mesh: enabled overrides namespace demo's disabled",
    });
  });

  it('a pod annotated disabled stays out even in a namespace annotated enabled', () => {
    assert.equal(meshDecision(pod({ annotations: { [MESH_ANNOTATION]: 'disabled' } }), ns({ [MESH_ANNOTATION]: 'enabled' })).meshed, false);
  });

  it('skips pods without a UID, exited pods and host-network pods, whatever the annotations say', () => {
    const forced = { [MESH_ANNOTATION]: 'enabled' };
    const { uid: _uid, ...noUid } = pod({ annotations: forced });
    assert.deepEqual(meshDecision(noUid, ns()), { meshed: false, reason: 'pod has no metadata.uid, so its cgroup cannot be found' });
    assert.deepEqual(meshDecision(pod({ phase: 'Succeeded', annotations: forced }), ns()), { meshed: false, reason: 'pod phase is Succeeded: its containers have exited' });
    assert.deepEqual(meshDecision(pod({ phase: 'Failed' }), ns()), { meshed: false, reason: 'pod phase is Failed: its containers have exited' });
    assert.deepEqual(meshDecision(pod({ hostNetwork: true, annotations: forced }), ns()), {
      meshed: false,
      reason: "host-network pod: it shares the node's network namespace",
    });
  });

  it('meshes Pending, Running, Unknown and phase-less pods (a Pending pod may already have its sandbox)', () => {
    for (const phase of ['Pending', 'Running', 'Unknown'] as const) assert.equal(meshDecision(pod({ phase }), ns()).meshed, true, phase);
    const { phase: _phase, ...noPhase } = pod();
    assert.equal(meshDecision(noPhase, ns()).meshed, true);
  });

  it('accepts the values in any case and with spaces; reports an unknown value and ignores it', () => {
    assert.equal(meshDecision(pod({ annotations: { [MESH_ANNOTATION]: ' Disabled ' } }), ns()).meshed, false);
    const typo = meshDecision(pod({ annotations: { [MESH_ANNOTATION]: 'off' } }), ns({ [MESH_ANNOTATION]: 'disabled' }));
    assert.deepEqual(typo, {
      meshed: false,
      reason: 'namespace demo annotation weft.io/mesh: disabled (pod annotation weft.io/mesh: "off" ignored; use enabled or disabled)',
    });
  });

  it('property: the decision follows the precedence table and always gives a reason', () => {
    const value = fc.constantFrom(undefined, 'enabled', 'disabled', 'bogus');
    const phase = fc.constantFrom<PodPhase | undefined>(undefined, 'Pending', 'Running', 'Succeeded', 'Failed', 'Unknown');
    fc.assert(
      fc.property(value, value, phase, fc.boolean(), fc.boolean(), (own, inherited, ph, hostNetwork, hasUid) => {
        const base = pod({ hostNetwork, annotations: own === undefined ? {} : { [MESH_ANNOTATION]: own } });
        const { uid: _u, phase: _p, ...rest } = base;
        const subject: PodInfo = { ...rest, ...(hasUid ? { uid: UID_A } : {}), ...(ph === undefined ? {} : { phase: ph }) };
        const decision = meshDecision(subject, ns(inherited === undefined ? {} : { [MESH_ANNOTATION]: inherited }));
        assert.ok(decision.reason.length > 0);
        const capturable = hasUid && ph !== 'Succeeded' && ph !== 'Failed' && !hostNetwork;
        const expected = capturable && (own === 'enabled' || (own !== 'disabled' && inherited !== 'disabled'));
        assert.equal(decision.meshed, expected);
      }),
    );
  });
});
