// The weft.lab.Echo service as grpc-js method definitions, shared by the gRPC server and client
// workloads: four methods of the four kinds, messages as JSON (no .proto, no code generation).
import type * as grpc from '@grpc/grpc-js';
import { GRPC_ECHO_SERVICE, type GrpcEchoReply, type GrpcEchoRequest, type GrpcMethod } from './protocol.ts';

const json = {
  serialize: (value: unknown): Buffer => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')),
};

function method(name: GrpcMethod, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<GrpcEchoRequest, GrpcEchoReply> {
  return {
    path: `/${GRPC_ECHO_SERVICE}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize as (bytes: Buffer) => GrpcEchoRequest,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize as (bytes: Buffer) => GrpcEchoReply,
    originalName: name,
  };
}

export const echoService = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
};
