// The Kubernetes namers: Linkerd 1's path order (/#/k8s/<ns>/<port>/<svc>, io.l5d.k8s) and weft's
// request order (/svc/<ns>/<svc>/<port> handed on by `/svc => /#/k8s`) bind the same Service port,
// always to the Linkerd-order id; /#/file reads the discovery file when it is the source.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServiceTable } from '../../../agent/discovery/service-table.ts';
import { bind } from '../../../agent/naming/bind.ts';
import { showBoundTree } from '../../../agent/naming/explain.ts';
import { k8sNamers } from '../../../agent/naming/k8s-namers.ts';
import { parseDtab, parsePath } from '../../../agent/naming/parse.ts';

const table = new ServiceTable(
  [{ namespace: 'shop', name: 'web', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }],
  [],
);

const bound = (path: string, dtab = '', file = false): string =>
  showBoundTree(bind(parseDtab(dtab), parsePath(path), k8sNamers(() => table, file ? () => table : undefined)));

describe('k8s namers', () => {
  it('bind /#/k8s/<ns>/<port>/<svc> (Linkerd order), by port number or name', () => {
    assert.equal(bound('/#/k8s/shop/80/web'), '/#/k8s/shop/80/web');
    assert.equal(bound('/#/k8s/shop/http/web'), '/#/k8s/shop/http/web');
  });

  it('read weft request names (service before port) through the default /svc rule, to the same id', () => {
    assert.equal(bound('/svc/shop/web/80', '/svc => /#/k8s'), '/#/k8s/shop/80/web');
    assert.equal(bound('/#/k8s/shop/web/http'), '/#/k8s/shop/http/web');
  });

  it('answer neg for a Service or port that does not exist, and fail for a path that is no Service port', () => {
    assert.equal(bound('/#/k8s/shop/81/web'), '~ (neg: no binding)');
    assert.equal(bound('/#/k8s/other/80/web'), '~ (neg: no binding)');
    assert.match(bound('/#/k8s/shop'), /^! \(.*needs/);
  });

  it('map a cluster IP to the Service’s request name, and /#/file only when the file is the source', () => {
    assert.equal(bound('/#/k8s-ip/10.96.0.10/80', '/svc => /#/k8s'), '/#/k8s/shop/80/web');
    assert.equal(bound('/#/file/shop/80/web', '', true), '/#/file/shop/80/web');
    assert.equal(bound('/#/file/shop/80/web'), '~ (neg: no binding)', 'without a file source, nothing claims /#/file');
  });
});
