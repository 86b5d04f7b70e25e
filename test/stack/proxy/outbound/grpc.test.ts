// gRPC through the whole outbound route (h2c server transport → route stack → HTTP/2 pool), with
// @grpc/grpc-js on both ends: unary, the three streaming kinds, status classification, deadline
// propagation, and retries of a trailers-only UNAVAILABLE when the route allows gRPC retries.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { systemRandom } from '../../../../agent/balance/random.ts';
import { connectTarget, targetKey, type EndpointTarget } from '../../../../agent/proxy/endpoint-client.ts';
import type { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { Http1Pool, http1PoolParams } from '../../../../agent/proxy/http1/pool.ts';
import { http2ServerParams } from '../../../../agent/proxy/http2/params.ts';
import { Http2Pool, http2PoolParams } from '../../../../agent/proxy/http2/pool.ts';
import { serveHttp2 } from '../../../../agent/proxy/http2/server-connection.ts';
import type { HttpRouteParams } from '../../../../agent/proxy/outbound-http.ts';
import { httpRouteParams, OutboundHttpRoutes } from '../../../../agent/proxy/outbound-http.ts';
import type { Service } from '../../../../agent/stack/service.ts';
import { systemClock } from '../../../../agent/time/clock.ts';
import { hostOrigin, RecordingMetrics } from './harness.ts';

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString()) as unknown,
};

interface Msg {
  text: string;
  n?: number;
}

const definition: grpc.ServiceDefinition = {
  Unary: { path: '/lab.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  ServerStream: { path: '/lab.Echo/ServerStream', requestStream: false, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  ClientStream: { path: '/lab.Echo/ClientStream', requestStream: true, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
  Bidi: { path: '/lab.Echo/Bidi', requestStream: true, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};

type EchoClient = grpc.Client & {
  Unary(req: Msg, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientUnaryCall;
  ServerStream(req: Msg): grpc.ClientReadableStream<Msg>;
  ClientStream(cb: (err: grpc.ServiceError | null, res?: Msg) => void): grpc.ClientWritableStream<Msg>;
  Bidi(): grpc.ClientDuplexStream<Msg, Msg>;
};
const EchoClientCtor = grpc.makeGenericClientConstructor(definition, 'Echo') as unknown as new (address: string, creds: grpc.ChannelCredentials) => EchoClient;

describe('gRPC through the outbound route', () => {
  const upstream = new grpc.Server();
  const seenTimeouts: number[] = [];
  let unavailableLeft = 0;
  let upstreamCalls = 0;
  let upstreamPort = 0;
  let proxy: Server;
  let proxyPort = 0;
  let routes: OutboundHttpRoutes;
  let pool1: Http1Pool<EndpointTarget>;
  let pool2: Http2Pool<EndpointTarget>;
  let client: EchoClient;
  const metrics = new RecordingMetrics();
  const sockets = new Set<Socket>();

  before(async () => {
    upstream.addService(definition, {
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        upstreamCalls++;
        // grpc-js consumes grpc-timeout into the call's deadline (it is not left in the metadata).
        const deadline = call.getDeadline();
        const at = deadline instanceof Date ? deadline.getTime() : deadline;
        if (Number.isFinite(at)) seenTimeouts.push(at - Date.now());
        if (call.request.text === 'not-found') {
          cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
          return;
        }
        if (call.request.text === 'flaky' && unavailableLeft > 0) {
          unavailableLeft--;
          cb({ code: grpc.status.UNAVAILABLE, details: 'try again' });
          return;
        }
        cb(null, { text: `echo ${call.request.text}` });
      },
      ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
        for (let i = 0; i < (call.request.n ?? 3); i++) call.write({ text: call.request.text, n: i });
        call.end();
      },
      ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        const texts: string[] = [];
        call.on('data', (m: Msg) => texts.push(m.text));
        call.on('end', () => cb(null, { text: texts.join(','), n: texts.length }));
      },
      Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
        call.on('data', (m: Msg) => call.write({ text: `re ${m.text}` }));
        call.on('end', () => call.end());
      },
    });
    upstreamPort = await new Promise<number>((resolve, reject) =>
      upstream.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err === null ? resolve(port) : reject(err))),
    );
    pool1 = new Http1Pool<EndpointTarget>(http1PoolParams, { connector: connectTarget, keyOf: targetKey });
    pool2 = new Http2Pool<EndpointTarget>(http2PoolParams, { connector: connectTarget, keyOf: targetKey });
    // gRPC retries are opt-in per route (as in Linkerd): this route retries UNAVAILABLE.
    const params: HttpRouteParams = {
      ...httpRouteParams,
      retry: { ...httpRouteParams.retry, policy: { ...httpRouteParams.retry.policy, conditions: { ...httpRouteParams.retry.policy.conditions, grpcCodes: [grpc.status.UNAVAILABLE] }, maxRetries: 2 } },
    };
    routes = new OutboundHttpRoutes(params, { clock: systemClock, random: systemRandom, wallClock: Date.now, metrics, pools: { http1: pool1, http2: pool2 } });
    const route = routes.route('default/echo:grpc', [{ address: '127.0.0.1', port: upstreamPort }]);
    const origin = hostOrigin();
    const entry: Service<HttpRequest, HttpResponse> = {
      call: (req, cx) => {
        req.origin = origin;
        return route.call(req, cx);
      },
    };
    proxy = createServer({ allowHalfOpen: true }, (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      serveHttp2(socket, entry, http2ServerParams);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    proxyPort = (proxy.address() as AddressInfo).port;
    client = new EchoClientCtor(`127.0.0.1:${proxyPort}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    for (const s of sockets) s.destroy();
    await routes.close();
    pool1.destroy();
    pool2.destroy();
    await new Promise((r) => proxy.close(r));
    upstream.forceShutdown();
  });

  const unary = (text: string, options: grpc.CallOptions = {}): Promise<Msg> =>
    new Promise((resolve, reject) => {
      client.Unary({ text }, new grpc.Metadata(), options, (err, res) => (err === null ? resolve(res as Msg) : reject(err)));
    });

  it('carries a unary call and its response', async () => {
    assert.deepEqual(await unary('hi'), { text: 'echo hi' });
    assert.ok(metrics.events.includes('response default/echo:grpc 200'));
  });

  it('carries a non-OK status with its details to the client', async () => {
    await assert.rejects(unary('not-found'), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && err.details === 'no such thing');
  });

  it('streams server, client and bidi messages both ways', async () => {
    const got: Msg[] = [];
    const stream = client.ServerStream({ text: 's', n: 5 });
    stream.on('data', (m: Msg) => got.push(m));
    await once(stream, 'end');
    assert.deepEqual(got.map((m) => m.n), [0, 1, 2, 3, 4]);

    const joined = await new Promise<Msg>((resolve, reject) => {
      const call = client.ClientStream((err, res) => (err === null ? resolve(res as Msg) : reject(err)));
      for (const t of ['a', 'b', 'c']) call.write({ text: t });
      call.end();
    });
    assert.deepEqual(joined, { text: 'a,b,c', n: 3 });

    const bidi = client.Bidi();
    const replies: string[] = [];
    bidi.on('data', (m: Msg) => {
      replies.push(m.text);
      if (replies.length < 3) bidi.write({ text: `m${replies.length}` });
      else bidi.end();
    });
    bidi.write({ text: 'm0' });
    await once(bidi, 'end');
    assert.deepEqual(replies, ['re m0', 're m1', 're m2']);
  });

  it('propagates the client deadline as a reduced grpc-timeout', async () => {
    seenTimeouts.length = 0;
    await unary('deadline', { deadline: Date.now() + 3000 });
    const left = seenTimeouts[0];
    assert.ok(left !== undefined, 'the server got a deadline (grpc-timeout)');
    assert.ok(left > 1500 && left <= 3000, `the server has ${left} ms left of the client's 3000`);
  });

  it('retries a trailers-only UNAVAILABLE on a route that allows it', async () => {
    unavailableLeft = 1;
    const before = upstreamCalls;
    assert.deepEqual(await unary('flaky'), { text: 'echo flaky' });
    assert.equal(upstreamCalls - before, 2);
  });
});
