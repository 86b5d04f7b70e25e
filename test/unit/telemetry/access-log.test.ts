import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { AccessLog } from '../../../agent/telemetry/access-log.ts';
import { responseChannel } from '../../../agent/telemetry/tap.ts';

describe('access log', () => {
  it('writes one JSON line per finished request with time, source, authority, method, path, status, duration, upstream, error and trace id', async () => {
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = new AccessLog(out).start();
    responseChannel.publish({
      id: 7, time: '2026-11-23T10:00:00.000Z', source: 'shop/client-0', authority: 'web.shop:80', route: 'shop/web:http', dstNamespace: 'shop', dstService: 'web',
      method: 'POST', path: '/orders', protocol: 'HTTP/1.1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', status: 503, grpcStatus: undefined,
      classification: 'failure', durationMs: 12.3456, upstream: '10.0.0.5:8080', error: 'WEFT_E_RESILIENCE_SHED',
    });
    log.close();
    assert.equal(responseChannel.hasSubscribers, false, 'closed: nothing listens');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = chunks.join('').split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0] as string), {
      level: 'info', agent: 'weft', log: 'access', time: '2026-11-23T10:00:00.000Z', source: 'shop/client-0', authority: 'web.shop:80', route: 'shop/web:http',
      method: 'POST', path: '/orders', protocol: 'HTTP/1.1', status: 503, durationMs: 12.346, upstream: '10.0.0.5:8080', error: 'WEFT_E_RESILIENCE_SHED',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
  });
});
