// gRPC through the HTTP/2 transport: a grpc-js client → serveHttp2 → Http2Pool → a grpc-js server.
// Nothing in the transport knows gRPC; this proves trailers, trailers-only answers, streaming both
// ways and grpc-timeout survive the hop.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { HttpRequest, HttpResponse } from '../../../../agent/proxy/http/message.ts';
import { Http2Pool, http2PoolParams } from '../../../../agent/proxy/http2/pool.ts';
import type { Service } from '../../../../agent/stack/service.ts';
import { listenHttp2, type Listener } from './harness.ts';

const raw = (b: Buffer): Buffer => b;
function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/weft.test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  };
}
const definition = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

describe('gRPC through serveHttp2 and Http2Pool', () => {
  let server: grpc.Server;
  let listener: Listener;
  let pool: Http2Pool<number>;
  let client: grpc.Client;
  let lastDeadline: grpc.Deadline | undefined;
  let lastTimeoutHeader: string | undefined;

  before(async () => {
    server = new grpc.Server();
    server.addService(definition, {
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        lastDeadline = call.getDeadline();
        const text = call.request.toString();
        if (text === 'missing') callback({ code: grpc.status.NOT_FOUND, details: 'no such thing: missing' });
        else callback(null, Buffer.from(`unary:${text}`));
      },
      ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = Number(call.request.toString());
        for (let i = 0; i < n; i++) call.write(Buffer.from(`item${i}`));
        call.end();
      },
      ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const parts: string[] = [];
        call.on('data', (b: Buffer) => parts.push(b.toString()));
        call.on('end', () => callback(null, Buffer.from(parts.join('+'))));
      },
      Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) => call.write(Buffer.from(`echo:${b.toString()}`)));
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error === null ? resolve(p) : reject(error)));
    });
    pool = new Http2Pool<number>(http2PoolParams, { connector: (p) => netConnect(p, '127.0.0.1'), keyOf: String });
    const proxy: Service<HttpRequest, HttpResponse> = {
      call: (req, cx) => {
        lastTimeoutHeader = req.headers.get('grpc-timeout');
        return pool.request(port, req, cx);
      },
    };
    listener = await listenHttp2(proxy);
    const Client = grpc.makeGenericClientConstructor(definition, 'Echo');
    client = new Client(`127.0.0.1:${listener.port}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    client.close();
    pool.destroy();
    await listener.close();
    server.forceShutdown();
  });

  function unary(text: string, options: grpc.CallOptions = {}): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(definition.Unary.path, raw, raw, Buffer.from(text), new grpc.Metadata(), options, (error, value) =>
        error !== null ? reject(error) : resolve(value as Buffer),
      );
    });
  }

  it('unary', async () => {
    assert.equal((await unary('hi')).toString(), 'unary:hi');
  });

  it('server streaming', async () => {
    const call = client.makeServerStreamRequest(definition.ServerStream.path, raw, raw, Buffer.from('50'));
    const items: string[] = [];
    for await (const item of call) items.push((item as Buffer).toString());
    assert.equal(items.length, 50);
    assert.equal(items[49], 'item49');
  });

  it('client streaming', async () => {
    const done = Promise.withResolvers<Buffer>();
    const call = client.makeClientStreamRequest(definition.ClientStream.path, raw, raw, (error, value) =>
      error !== null ? done.reject(error) : done.resolve(value as Buffer),
    );
    for (const part of ['a', 'b', 'c']) call.write(Buffer.from(part));
    call.end();
    assert.equal((await done.promise).toString(), 'a+b+c');
  });

  it('bidi streaming', async () => {
    const call = client.makeBidiStreamRequest(definition.Bidi.path, raw, raw);
    const got: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on('data', (b: Buffer) => {
        got.push(b.toString());
        if (got.length < 5) call.write(Buffer.from(String(got.length)));
        else call.end();
      });
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.write(Buffer.from('0'));
    await ended;
    assert.deepEqual(got, ['echo:0', 'echo:1', 'echo:2', 'echo:3', 'echo:4']);
  });

  it('a non-OK status arrives with its code and details', async () => {
    await assert.rejects(unary('missing'), (error: grpc.ServiceError) => {
      assert.equal(error.code, grpc.status.NOT_FOUND);
      assert.equal(error.details, 'no such thing: missing');
      return true;
    });
  });

  it('a client deadline travels as grpc-timeout to the server', async () => {
    const deadline = new Date(Date.now() + 30_000);
    await unary('d', { deadline });
    assert.match(lastTimeoutHeader ?? '', /^\d+[HMSmun]$/);
    // grpc-js gives the server the deadline it rebuilt from grpc-timeout (Infinity without one).
    assert.ok(lastDeadline !== undefined);
    const at = lastDeadline instanceof Date ? lastDeadline.getTime() : lastDeadline;
    assert.ok(Math.abs(at - deadline.getTime()) < 5_000, `server deadline ${at}, client ${deadline.getTime()}`);
  });
});
