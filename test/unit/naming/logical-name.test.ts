import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type AuthorityContext,
  authorityPath,
  originalDestinationPath,
  requestNameTree,
} from '../../../agent/naming/logical-name.ts';
import { alt, leaf } from '../../../agent/naming/name-tree.ts';
import { parsePath } from '../../../agent/naming/parse.ts';
import { isSegment, showPath } from '../../../agent/naming/path.ts';

const fromPod = { namespace: 'web', defaultPort: 80 };
const shown = (authority: string, context: AuthorityContext = fromPod) => {
  const p = authorityPath(authority, context);
  return p === undefined ? undefined : showPath(p);
};

describe('authority to /svc/<namespace>/<service>/<port>', () => {
  it('accepts every form the pod resolver would find a Service by', () => {
    assert.equal(shown('users.prod.svc.cluster.local:8080'), '/svc/prod/users/8080');
    assert.equal(shown('users.prod.svc.cluster.local.:8080'), '/svc/prod/users/8080');
    assert.equal(shown('users.prod.svc:8080'), '/svc/prod/users/8080');
    assert.equal(shown('users.prod:8080'), '/svc/prod/users/8080');
    assert.equal(shown('users:8080'), '/svc/web/users/8080');
  });

  it('takes the default port when there is none, or it is empty', () => {
    assert.equal(shown('users.prod'), '/svc/prod/users/80');
    assert.equal(shown('users.prod:'), '/svc/prod/users/80');
    assert.equal(shown('users', { namespace: 'web', defaultPort: 443 }), '/svc/web/users/443');
  });

  it('is case-insensitive and normalises the port', () => {
    assert.equal(shown('Users.PROD.svc.Cluster.Local:080'), '/svc/prod/users/80');
  });

  it('follows the configured cluster domain', () => {
    const p = authorityPath('users.prod.svc.corp.example:80', fromPod, { clusterDomain: 'corp.example' });
    assert.deepEqual(p, parsePath('/svc/prod/users/80'));
    assert.equal(shown('users.prod.svc.corp.example:80'), undefined);
  });

  it('gives no name to what is not a Service name', () => {
    for (const authority of [
      '',
      '10.96.0.10:80',
      '[fd00::1]:80',
      'fd00::1',
      'user@users.prod:80',
      'users.prod:0',
      'users.prod:65536',
      'users.prod:http',
      'users .prod',
      'www.example.co.uk:443',
      'users.prod.pod.cluster.local:80',
      'a.users.prod.svc.cluster.local:80',
      '-users.prod:80',
      'users_x.prod:80',
      'users.prod/path',
    ]) {
      assert.equal(shown(authority), undefined, authority);
    }
  });

  it('a one-label host needs the caller namespace', () => {
    assert.equal(shown('users:80', { defaultPort: 80 }), undefined);
  });

  it('every Service name form maps to the same path (fast-check)', () => {
    const label = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
    fc.assert(
      fc.property(label, label, fc.integer({ min: 1, max: 65535 }), (service, namespace, port) => {
        const want = `/svc/${namespace}/${service}/${port}`;
        for (const host of [`${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}.svc`, `${service}.${namespace}`]) {
          assert.equal(shown(`${host}:${port}`), want);
        }
        assert.equal(shown(`${service}:${port}`, { namespace, defaultPort: 1 }), want);
      }),
    );
  });

  it('never throws, and any name it gives is a valid path (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), fc.integer(), (authority, port) => {
        const p = authorityPath(authority, { namespace: 'ns', defaultPort: port });
        if (p !== undefined) {
          assert.equal(p.length, 4);
          assert.ok(p.every(isSegment));
          assert.deepEqual(parsePath(showPath(p)), p);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('original destination to /dst/<ip>/<port>', () => {
  it('names IPv4 and IPv6 destinations', () => {
    assert.deepEqual(originalDestinationPath({ address: '10.96.0.10', port: 80 }), parsePath('/dst/10.96.0.10/80'));
    const v6 = originalDestinationPath({ address: 'fd00::a', port: 443 });
    assert.deepEqual(v6, ['dst', 'fd00::a', '443']);
    assert.equal(showPath(v6 ?? []), '/dst/fd00::a/443');
  });

  it('gives no name to a non-IP or a bad port', () => {
    assert.equal(originalDestinationPath({ address: 'users', port: 80 }), undefined);
    assert.equal(originalDestinationPath({ address: '10.0.0.1', port: 0 }), undefined);
    assert.equal(originalDestinationPath({ address: '10.0.0.1', port: 1.5 }), undefined);
  });
});

describe('request names', () => {
  const dst = { address: '10.96.0.10', port: 80 };

  it('the authority first, then the original destination', () => {
    assert.deepEqual(
      requestNameTree({ authority: 'users.prod', originalDestination: dst, namespace: 'web', defaultPort: 80 }),
      alt(leaf(parsePath('/svc/prod/users/80')), leaf(parsePath('/dst/10.96.0.10/80'))),
    );
  });

  it('either alone, or nothing', () => {
    assert.deepEqual(
      requestNameTree({ originalDestination: dst, defaultPort: 80 }),
      leaf(parsePath('/dst/10.96.0.10/80')),
    );
    assert.deepEqual(requestNameTree({ authority: 'users.prod', defaultPort: 80 }), leaf(parsePath('/svc/prod/users/80')));
    assert.deepEqual(
      requestNameTree({ authority: '10.96.0.10', originalDestination: dst, defaultPort: 80 }),
      leaf(parsePath('/dst/10.96.0.10/80')),
    );
    assert.equal(requestNameTree({ authority: '!!', defaultPort: 80 }), undefined);
  });
});
