// The DNS namers (agent/naming/dns-namer.ts); here beside the DNS source tests they serve.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DnsTarget } from '../../../agent/discovery/dns-target.ts';
import type { BoundName } from '../../../agent/naming/bind.ts';
import { bind, boundNameKey } from '../../../agent/naming/bind.ts';
import { dnsNamers, dnsTargetOfBoundName } from '../../../agent/naming/dns-namer.ts';
import { showNameTreeWith } from '../../../agent/naming/name-tree.ts';
import { parseDtab, parsePath } from '../../../agent/naming/parse.ts';
import { systemNamers } from '../../../agent/naming/system-namers.ts';

const absent = new Set<string>();
const source = { isAbsent: (target: DnsTarget): boolean => absent.has(target.kind === 'dns' ? `${target.name}:${target.port}` : target.name) };
const namers = [...systemNamers, ...dnsNamers(source)];
const dtab = parseDtab(`
  /ext => /$/inet;
  /ext => /#/dns;
  /grpc => /#/dns-srv;
`);
const bound = (path: string): string => showNameTreeWith(bind(dtab, parsePath(path), namers), (name: BoundName) => boundNameKey(name));

describe('DNS namers', () => {
  it('/#/dns/<name>/<port> binds the name (lower case, no trailing dot) and port, the rest as residual', () => {
    assert.equal(bound('/ext/Web.Example.com./8080'), '/#/dns/web.example.com/8080');
    assert.equal(bound('/ext/web.example.com/8080/api/v1'), '/#/dns/web.example.com/8080 /api/v1');
    assert.deepEqual(dnsTargetOfBoundName(parsePath('/#/dns/web.example.com/8080')), { kind: 'dns', name: 'web.example.com', port: 8080 });
  });

  it('/#/dns-srv/<name> binds the SRV name', () => {
    assert.equal(bound('/grpc/_grpc._tcp.users.example.com/x'), '/#/dns-srv/_grpc._tcp.users.example.com /x');
    assert.deepEqual(dnsTargetOfBoundName(parsePath('/#/dns-srv/_grpc._tcp.users.example.com')), { kind: 'dns-srv', name: '_grpc._tcp.users.example.com' });
    assert.equal(dnsTargetOfBoundName(parsePath('/#/k8s/a/b/80')), undefined);
    assert.equal(dnsTargetOfBoundName(parsePath('/#/dns/web.example.com')), undefined);
  });

  it('a name the source believes absent is neg, so the dtab falls back (here to /$/inet)', () => {
    absent.add('gone.example.com:80');
    try {
      assert.equal(bound('/ext/gone.example.com/80'), '/$/inet/gone.example.com/80');
    } finally {
      absent.clear();
    }
  });

  it('a path that is no DNS target fails with what is expected', () => {
    const result = bind(dtab, parsePath('/#/dns/web.example.com/http'), namers);
    assert.equal(result.kind, 'fail');
    assert.match(result.kind === 'fail' ? (result.reason ?? '') : '', /\/#\/dns needs \/<host name>\/<port>/);
    assert.equal(bind(dtab, parsePath('/#/dns/-bad.name/80'), namers).kind, 'fail');
    assert.equal(bind(dtab, parsePath('/#/dns/web.example.com/65536'), namers).kind, 'fail');
    assert.equal(bind(dtab, parsePath('/#/dns-srv'), namers).kind, 'fail');
  });
});
