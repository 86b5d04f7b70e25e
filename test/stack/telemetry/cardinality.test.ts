// A flood of distinct destinations through the live route stack (real sockets, the real
// AgentMetrics): each Host names its own Service, as a dtab that turns Hosts into names would. The
// exposition stays bounded by the caps, and the overflow is counted.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { systemRandom } from '../../../agent/balance/random.ts';
import { connectTarget, targetKey, type EndpointTarget } from '../../../agent/proxy/endpoint-client.ts';
import type { HttpRequest, HttpResponse } from '../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../agent/proxy/http1/pool.ts';
import { http1ServerParams, serveHttp1 } from '../../../agent/proxy/http1/server-connection.ts';
import { httpRouteParams, OutboundHttpRoutes } from '../../../agent/proxy/outbound-http.ts';
import type { CallContext, Service } from '../../../agent/stack/service.ts';
import { AgentMetrics } from '../../../agent/telemetry/metrics.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { Cleanups, hostOrigin, ok, send } from '../proxy/outbound/harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

describe('metrics cardinality through the route stack', () => {
  it('300 distinct Hosts, each its own Service, leave at most the capped series in the exposition', async () => {
    const upstream = await cleanups.upstream(ok());
    const metrics = new AgentMetrics({ captureCounters: () => [] }, { maxAuthorities: 20, maxSeriesPerMetric: 50 });
    const pool = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
    const routes = new OutboundHttpRoutes(httpRouteParams, { clock: systemClock, random: systemRandom, wallClock: Date.now, metrics: metrics.http, pools: { http1: pool, http2: pool } });
    const origin = hostOrigin('shop/client-0');
    // Naming reduced to its result: Host svc-N.shop → the Service shop/svc-N.
    const entry: Service<HttpRequest, HttpResponse> = {
      call(req: HttpRequest, cx: CallContext): Promise<HttpResponse> {
        req.origin = origin;
        const service = req.authority.split('.')[0] ?? 'none';
        return routes.route(`shop/${service}:80`, [upstream.endpoint], `shop/${service}:80`, { namespace: 'shop', service }).call(req, cx);
      },
    };
    const server = createServer({ allowHalfOpen: true }, (socket) => serveHttp1(socket, entry, http1ServerParams));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.add(async () => {
      server.close();
      await routes.close();
      pool.destroy();
    });
    const port = (server.address() as AddressInfo).port;

    for (let i = 0; i < 300; i++) {
      const res = await send(port, { headers: { host: `svc-${i}.shop` } });
      assert.equal(res.status, 200);
    }

    const body = (await metrics.expose(undefined)).body;
    const count = (name: string): number => body.split('\n').filter((line) => line.startsWith(`${name}{`)).length;
    // 20 authorities admitted + one overflow series.
    assert.equal(count('request_total'), 21);
    assert.equal(count('response_total'), 21);
    assert.equal(count('response_latency_ms_count'), 21);
    assert.match(body, /^request_total\{direction="outbound",authority="overflow",dst_namespace="overflow",dst_service="overflow",namespace="shop",pod="client-0",[^}]*\} 280$/m);
    assert.match(body, /^weft_metrics_label_overflow_total\{metric="request_total",label="authority"\} 280$/m);
    // Every request is still counted: the overflow keeps totals right.
    const total = body.split('\n').filter((line) => line.startsWith('request_total{')).reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    assert.equal(total, 300);
  });
});
