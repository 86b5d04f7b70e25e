import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NamerEntry, type NamerResult, bindTree, explainTree } from '../../../agent/naming/bind.ts';
import { defaultDtab, defaultDtabText, k8sClusterIpNamerPrefix, k8sNamerPrefix } from '../../../agent/naming/default-dtab.ts';
import { showDtab } from '../../../agent/naming/dtab.ts';
import { formatExplanation } from '../../../agent/naming/explain.ts';
import { type RequestNameInput, requestNameTree } from '../../../agent/naming/logical-name.ts';
import { leaf } from '../../../agent/naming/name-tree.ts';
import { parseDtab, parseNameTree, parsePath } from '../../../agent/naming/parse.ts';
import { withOverride } from '../../../agent/naming/override.ts';
import { type Path, showPath } from '../../../agent/naming/path.ts';
import { systemNamers } from '../../../agent/naming/system-namers.ts';

// A cluster with two Services; stands in for the discovery namers, honouring their contracts.
const services: Record<string, { clusterIp: string; ports: number[] }> = {
  'prod/users': { clusterIp: '10.96.0.10', ports: [80] },
  'prod/users-v2': { clusterIp: '10.96.0.11', ports: [80] },
};

const k8s: NamerEntry = {
  prefix: k8sNamerPrefix,
  namer: (rest: Path): NamerResult => {
    const [namespace, service, port] = rest;
    const known = services[`${namespace}/${service}`];
    if (known === undefined || !known.ports.includes(Number(port))) return { kind: 'neg' };
    return { kind: 'bound', id: rest.slice(0, 3), residual: rest.slice(3) };
  },
};

const k8sClusterIp: NamerEntry = {
  prefix: k8sClusterIpNamerPrefix,
  namer: (rest: Path): NamerResult => {
    const [ip, port] = rest;
    for (const [name, s] of Object.entries(services)) {
      if (s.clusterIp === ip && s.ports.includes(Number(port))) {
        return { kind: 'delegate', tree: leaf(['svc', ...name.split('/'), String(port)]) };
      }
    }
    return { kind: 'neg' };
  },
};

const namers = [...systemNamers, k8s, k8sClusterIp];

function route(input: RequestNameInput, dtab = defaultDtab): string {
  const tree = requestNameTree(input);
  assert.ok(tree !== undefined);
  const result = bindTree(dtab, tree, namers);
  assert.equal(result.kind, 'leaf', JSON.stringify(result));
  return result.kind === 'leaf' ? showPath(result.value.id) : '';
}

describe('the default dtab', () => {
  it('is data in dtab notation', () => {
    assert.equal(showDtab(defaultDtab), '/svc=>/#/k8s;/dst=>/$/inet;/dst=>/#/k8s-ip');
    assert.deepEqual(parseDtab(defaultDtabText), defaultDtab);
  });

  it('routes a Service name from Host to the Kubernetes namer', () => {
    assert.equal(route({ authority: 'users.prod.svc.cluster.local:80', defaultPort: 80 }), '/#/k8s/prod/users/80');
    assert.equal(route({ authority: 'users', namespace: 'prod', defaultPort: 80 }), '/#/k8s/prod/users/80');
  });

  it('names a connection to a cluster IP as its Service', () => {
    assert.equal(route({ originalDestination: { address: '10.96.0.10', port: 80 }, defaultPort: 80 }), '/#/k8s/prod/users/80');
  });

  it('lets traffic to anything else go where the application sent it', () => {
    const external = { authority: 'example.com:443', originalDestination: { address: '93.184.216.34', port: 443 }, defaultPort: 443 };
    assert.equal(route(external), '/$/inet/93.184.216.34/443');
    assert.equal(route({ originalDestination: { address: '10.1.2.3', port: 5432 }, defaultPort: 80 }), '/$/inet/10.1.2.3/5432');
  });

  it('an override of /svc also redirects traffic addressed by cluster IP', () => {
    const override = parseDtab('/svc/prod/users => /svc/prod/users-v2');
    const dtab = withOverride(defaultDtab, override);
    assert.equal(route({ authority: 'users.prod', defaultPort: 80 }, dtab), '/#/k8s/prod/users-v2/80');
    assert.equal(route({ originalDestination: { address: '10.96.0.10', port: 80 }, defaultPort: 80 }, dtab), '/#/k8s/prod/users-v2/80');
  });

  it('explains a zero-config route step by step', () => {
    const tree = parseNameTree('/svc/prod/nope/80 | /dst/10.96.0.10/80');
    const text = formatExplanation(explainTree(defaultDtab, tree, namers));
    assert.match(text, /namer \/#\/k8s: neg/);
    assert.match(text, /namer \/#\/k8s-ip: delegates to \/svc\/prod\/users\/80/);
    assert.match(text, /result: \/#\/k8s\/prod\/users\/80\n$/);
    assert.deepEqual(parsePath('/svc/prod/nope/80').length, 4);
  });
});
