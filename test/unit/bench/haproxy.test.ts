import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HAPROXY_PORTS, proxyConfig, RESPONSE_BODY, serverConfig } from '../../../scripts/bench/haproxy.ts';

describe('bench haproxy configs', () => {
  const targets = { serverIp: '198.18.1.2', h1Port: 8080, h2Port: 8081, grpcPort: 9090, tcpPort: 5201 };

  it('the comparison proxy has one thread pinned to the given CPU, loopback listeners and retries like weft', () => {
    const cfg = proxyConfig(targets, 1);
    assert.match(cfg, /^\s*nbthread 1$/m);
    assert.match(cfg, /^\s*cpu-map 1\/1 1$/m);
    assert.match(cfg, new RegExp(`bind 127\\.0\\.0\\.1:${HAPROXY_PORTS.h1}\\n`));
    assert.match(cfg, new RegExp(`bind 127\\.0\\.0\\.1:${HAPROXY_PORTS.grpc} proto h2`));
    assert.match(cfg, /server s1 198\.18\.1\.2:9090 proto h2/);
    assert.match(cfg, /server s1 198\.18\.1\.2:5201\n/);
    assert.match(cfg, /retry-on conn-failure empty-response 502 503 504/);
    assert.match(cfg, /http-reuse always/);
  });

  it('the origin answers a 64-byte body itself on HTTP/1.1 and h2c', () => {
    assert.equal(RESPONSE_BODY.length, 64);
    const cfg = serverConfig(8080, 8081, 0);
    assert.match(cfg, /bind 0\.0\.0\.0:8081 proto h2/);
    assert.ok(cfg.includes(`string "${RESPONSE_BODY}"`));
  });
});
