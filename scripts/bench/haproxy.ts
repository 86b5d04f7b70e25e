// haproxy configurations for the bench, as text (pure; test/unit/bench/haproxy.test.ts).
//   proxyConfig:   the comparison proxy. Runs in the unmeshed client pod on 127.0.0.1, as weft's
//                  outbound listener does in a meshed pod (127.0.0.1:4140 in the pod's netns), with
//                  one thread (weft's data path is one JS thread) and weft's nearest features:
//                  keep-alive both sides with connection reuse, 2 retries on connect failure, an
//                  empty response and 502/503/504 (weft retries 5xx GETs within a budget),
//                  an HTTP/2 (h2c) frontend and backend for h2 and gRPC, a TCP proxy for opaque bytes.
//   serverConfig:  the origin for HTTP/1.1 and h2c: haproxy answering 64 bytes itself
//                  (`http-request return`), so the server costs little and the proxy is what is measured.
export interface ProxyTargets {
  readonly serverIp: string;
  readonly h1Port: number;
  readonly h2Port: number;
  readonly grpcPort: number;
  readonly tcpPort: number;
}

/** Where the comparison haproxy listens (127.0.0.1 in the direct client pod). */
export const HAPROXY_PORTS = { h1: 10080, h2: 10081, grpc: 19090, tcp: 15201 } as const;

export const RESPONSE_BODY = 'weft-bench 64-byte response body ' + '.'.repeat(31);

const globals = (cpu: number): string => `global
  nbthread 1
  cpu-map 1/1 ${cpu}
  maxconn 8000
  log stderr format short local0 err

defaults
  log global
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  maxconn 8000
`;

export function proxyConfig(t: ProxyTargets, cpu: number): string {
  const http = (name: string, port: number, backendPort: number, h2: boolean): string => `
frontend ${name}
  mode http
  bind 127.0.0.1:${port}${h2 ? ' proto h2' : ''}
  option http-keep-alive
  default_backend ${name}_be

backend ${name}_be
  mode http
  http-reuse always
  retries 2
  retry-on conn-failure empty-response 502 503 504
  server s1 ${t.serverIp}:${backendPort}${h2 ? ' proto h2' : ''}
`;
  return `${globals(cpu)}${http('h1', HAPROXY_PORTS.h1, t.h1Port, false)}${http('h2', HAPROXY_PORTS.h2, t.h2Port, true)}${http('grpc', HAPROXY_PORTS.grpc, t.grpcPort, true)}
frontend tcp
  mode tcp
  bind 127.0.0.1:${HAPROXY_PORTS.tcp}
  default_backend tcp_be

backend tcp_be
  mode tcp
  retries 2
  server s1 ${t.serverIp}:${t.tcpPort}
`;
}

export function serverConfig(h1Port: number, h2Port: number, cpu: number): string {
  return `${globals(cpu)}
frontend origin
  mode http
  bind 0.0.0.0:${h1Port}
  bind 0.0.0.0:${h2Port} proto h2
  http-request return status 200 content-type text/plain string "${RESPONSE_BODY}"
`;
}
