// Micro-benchmark of the framing layer's hot path, to run by hand when changing it:
//   node agent/proxy/http1/bench.ts
// Prints ns per operation. DESIGN.md measured about 2 µs of JavaScript per proxied request for the
// whole raw-socket proxy, so parsing and re-serializing a head must stay well under that. Not a
// test: timings depend on the machine (and on what else runs on it), so nothing is asserted.
import { performance } from 'node:perf_hooks';
import { ChunkedDecoder } from './chunked-decoder.ts';
import { HeadParser } from './head-parser.ts';
import { MessageReader } from './message-reader.ts';
import { serializeHead } from './serialize.ts';

const request = Buffer.from(
  'GET /api/v1/items?limit=20&offset=40 HTTP/1.1\r\n' +
    'Host: items.default.svc.cluster.local:8080\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
    'Accept: application/json, text/plain, */*\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'Connection: keep-alive\r\n' +
    'X-Request-Id: 6f1c2b9e-8d3a-4c55-9a70-2f0e7f4b1a11\r\n' +
    'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n',
  'latin1',
);
const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\nDate: Tue, 01 Jul 2025 12:00:00 GMT\r\n\r\n', 'latin1');
const chunked = Buffer.from(`${'400\r\n'}${'x'.repeat(1024)}\r\n`.repeat(16) + '0\r\n\r\n', 'latin1');

/** Runs fn `iterations` times (after a warm-up for the JIT) and prints the time per op; fn may do `perCall` ops. */
function bench(name: string, iterations: number, fn: () => void, perCall = 1): void {
  for (let i = 0; i < iterations / 10; i++) fn();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const ns = ((performance.now() - start) * 1e6) / (iterations * perCall);
  console.log(`${name.padEnd(48)} ${ns.toFixed(0).padStart(7)} ns/op`);
}

const requests = new HeadParser('request');
const responses = new HeadParser('response');
const GET = { method: 'GET', upgrade: false };
let sink = 0;

bench(`parse request head (${request.length} B, 9 fields)`, 500_000, () => {
  const r = requests.feed(request);
  if (r.kind === 'head') sink += r.end;
});
bench('parse request head, 3 chunks', 200_000, () => {
  requests.feed(request.subarray(0, 100));
  requests.feed(request.subarray(100, 300));
  const r = requests.feed(request.subarray(300));
  if (r.kind === 'head') sink += r.end;
});
bench(`parse response head (${response.length} B)`, 500_000, () => {
  const r = responses.feed(response, 0, GET);
  if (r.kind === 'head') sink += r.end;
});
const parsed = requests.feed(request);
if (parsed.kind !== 'head') throw new Error('bench request did not parse');
bench('serialize request head (hop-by-hop removed)', 500_000, () => {
  sink += serializeHead(parsed.head).length;
});
bench('parse + serialize + read Host', 500_000, () => {
  const r = requests.feed(request);
  if (r.kind === 'head') sink += serializeHead(r.head).length + (r.head.host?.length ?? 0);
});
const decoder = new ChunkedDecoder('response');
bench(`decode chunked body (${chunked.length} B, 16 chunks)`, 100_000, () => {
  decoder.reset();
  let pos = 0;
  for (;;) {
    const step = decoder.next(chunked, pos);
    if (step === 'data') sink += decoder.dataEnd - decoder.dataStart;
    if (step !== 'data') break;
    pos = decoder.offset;
  }
});
const pipeline = Buffer.concat(Array.from({ length: 16 }, () => request));
const reader = new MessageReader('request');
bench('message reader, 16 pipelined requests, per request', 50_000, () => {
  let pos = 0;
  for (let k = 0; k < 16; k++) {
    reader.next(pipeline, pos); // head
    reader.next(pipeline, reader.offset); // end (no body)
    pos = reader.offset;
  }
  sink += pos;
}, 16);
if (sink === 0) console.log('(nothing parsed?)');
