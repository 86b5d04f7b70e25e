// Tracing of gRPC over HTTP/2 through the route stack: grpc-js on both ends, the proxy between
// them with tracing on, and the decoding OTLP receiver as collector. The context travels in the
// HTTP/2 headers (gRPC metadata), and the span records the gRPC status.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { systemRandom } from '../../../agent/balance/random.ts';
import { connectTarget, targetKey, type EndpointTarget } from '../../../agent/proxy/endpoint-client.ts';
import type { HttpRequest, HttpResponse } from '../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../agent/proxy/http1/pool.ts';
import { http2ServerParams } from '../../../agent/proxy/http2/params.ts';
import { Http2Pool, http2PoolParams } from '../../../agent/proxy/http2/pool.ts';
import { serveHttp2 } from '../../../agent/proxy/http2/server-connection.ts';
import { httpRouteParams, OutboundHttpRoutes } from '../../../agent/proxy/outbound-http.ts';
import type { Service } from '../../../agent/stack/service.ts';
import { otlpExporterParams, OtlpHttpExporter } from '../../../agent/telemetry/tracing/otlp-exporter.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { OtlpReceiver } from '../../support/otlp-receiver.ts';
import { hostOrigin, RecordingMetrics } from '../proxy/outbound/harness.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = '00f067aa0ba902b7';

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString()) as unknown,
};
interface Msg { text: string }
const definition: grpc.ServiceDefinition = {
  Unary: { path: '/lab.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};
type EchoClient = grpc.Client & {
  Unary(req: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
};
const EchoClientCtor = grpc.makeGenericClientConstructor(definition, 'Echo') as unknown as new (address: string, creds: grpc.ChannelCredentials) => EchoClient;

describe('tracing gRPC over HTTP/2', () => {
  const upstream = new grpc.Server();
  const seen: Array<{ traceparent: string; b3: string }> = [];
  const collector = new OtlpReceiver();
  let exporter: OtlpHttpExporter;
  let routes: OutboundHttpRoutes;
  let pool1: Http1Pool<EndpointTarget>;
  let pool2: Http2Pool<EndpointTarget>;
  let proxy: Server;
  let client: EchoClient;
  const sockets = new Set<Socket>();

  before(async () => {
    await collector.start();
    upstream.addService(definition, {
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        seen.push({ traceparent: String(call.metadata.get('traceparent')[0] ?? ''), b3: String(call.metadata.get('b3')[0] ?? '') });
        if (call.request.text === 'down') cb({ code: grpc.status.UNAVAILABLE, details: 'down' });
        else cb(null, { text: `echo ${call.request.text}` });
      },
    });
    const upstreamPort = await new Promise<number>((resolve, reject) =>
      upstream.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err === null ? resolve(port) : reject(err))),
    );
    exporter = new OtlpHttpExporter({ ...otlpExporterParams, endpoint: collector.url, flushIntervalMs: 60_000 }, {
      clock: systemClock, random: systemRandom, resource: { attributes: {}, scope: { name: 'weft', version: 'test' } },
    });
    pool1 = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
    pool2 = new Http2Pool<EndpointTarget>(http2PoolParams, { connector: connectTarget, keyOf: targetKey });
    routes = new OutboundHttpRoutes(httpRouteParams, {
      clock: systemClock, random: systemRandom, wallClock: Date.now, metrics: new RecordingMetrics(), pools: { http1: pool1, http2: pool2 },
      tracing: { params: { sampleRatio: 1 }, deps: { random: systemRandom, sink: exporter } },
    });
    const route = routes.route('default/echo:grpc', [{ address: '127.0.0.1', port: upstreamPort }]);
    const origin = hostOrigin();
    const entry: Service<HttpRequest, HttpResponse> = { call: (req, cx) => { req.origin = origin; return route.call(req, cx); } };
    proxy = createServer({ allowHalfOpen: true }, (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      serveHttp2(socket, entry, http2ServerParams);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    client = new EchoClientCtor(`127.0.0.1:${(proxy.address() as AddressInfo).port}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    for (const s of sockets) s.destroy();
    await routes.close();
    pool1.destroy();
    pool2.destroy();
    await exporter.close(100);
    upstream.forceShutdown();
    await new Promise((resolve) => proxy.close(resolve));
    await collector.close();
  });

  const unary = (text: string, md: grpc.Metadata): Promise<{ err: grpc.ServiceError | null }> =>
    new Promise((resolve) => client.Unary({ text }, md, (err) => resolve({ err })));

  it('continues the caller\'s W3C trace in the HTTP/2 headers; the span ends at the head, before an OK status in trailers', async () => {
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${TRACE}-${CALLER}-01`);
    const { err } = await unary('hi', md);
    assert.equal(err, null);
    await exporter.flush();
    const span = collector.spans.at(-1);
    assert.equal(seen.at(-1)?.traceparent, `00-${TRACE}-${span?.spanId}-01`);
    assert.deepEqual([span?.traceId, span?.parentSpanId, span?.status.code], [TRACE, CALLER, 0]);
    assert.deepEqual([span?.attributes['http.request.method'], span?.attributes['url.path'], span?.attributes['network.protocol.version'], span?.attributes['rpc.grpc.status_code']], ['POST', '/lab.Echo/Unary', '2', undefined]);
  });

  it('marks a non-OK gRPC status (trailers-only, so in the head) as an error span, and continues B3 in b3', async () => {
    const md = new grpc.Metadata();
    md.set('b3', `${TRACE}-${CALLER}-1`);
    const { err } = await unary('down', md);
    assert.equal(err?.code, grpc.status.UNAVAILABLE);
    await exporter.flush();
    const span = collector.spans.at(-1);
    assert.equal(seen.at(-1)?.b3, `${TRACE}-${span?.spanId}-1-${CALLER}`);
    assert.equal(span?.attributes['rpc.grpc.status_code'], grpc.status.UNAVAILABLE);
    assert.equal(span?.status.code, 2);
  });
});
