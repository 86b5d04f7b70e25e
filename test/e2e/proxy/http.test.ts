// Issue: the request-level proxy end to end — real pods (netns + veth + cgroup), the real BPF
// programs and the real agent process; HTTP/1.1 and HTTP/2 from a meshed client pod to a Service
// address, through detection and the route stack, to server pods; bad input answered with the
// right status, the connection closed, the agent unharmed and its memory flat.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startTcpClient } from '../../../agent/lab/client.ts';
import type { TcpClient } from '../../../agent/lab/client.ts';
import type { LabNode } from '../../../agent/lab/node.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import type { AgentProcess } from '../../support/agent-process.ts';
import { LabAgent, serviceObjects } from '../../support/lab-agent.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';
import { waitFor } from '../../support/wait.ts';

const H1_VIP = '198.19.255.20';
const H2_VIP = '198.19.255.21';
const H1_PORT = 8080;
const H2_PORT = 8081;

// A server pod: HTTP/1.1 on 8080 and h2c on 8081, answering JSON with what it saw. `?status=N`
// sets the status; `?delay=ms` waits first. Each request is a line on stdout (for counting).
const SERVER = `
const http = require('node:http'), http2 = require('node:http2');
const handle = (q, s) => {
  let n = 0;
  q.on('data', (c) => { n += c.length; });
  q.on('end', () => {
    const u = new URL(q.url, 'http://x');
    const seen = { pod: process.env.POD, peer: q.socket.remoteAddress, version: q.httpVersion, method: q.method, bytes: n,
      deadline: q.headers['weft-deadline'] ?? null, proxyError: q.headers['l5d-proxy-error'] ?? null };
    process.stdout.write(JSON.stringify(seen) + '\\n');
    const answer = () => { s.writeHead(Number(u.searchParams.get('status') ?? 200), { 'content-type': 'application/json' }); s.end(JSON.stringify(seen)); };
    const delay = Number(u.searchParams.get('delay') ?? 0);
    if (delay > 0) setTimeout(answer, delay); else answer();
  });
};
let up = 0;
const ready = () => { if (++up === 2) process.stdout.write('ready\\n'); };
http.createServer(handle).listen(${H1_PORT}, ready);
http2.createServer(handle).listen(${H2_PORT}, ready);
`;

interface Seen {
  pod: string;
  peer: string;
  version: string;
  method: string;
  bytes: number;
  deadline: string | null;
}

interface RouteStatus {
  name: string;
  stack: string[];
  balancer: { endpoints: Array<{ key: string }> };
}

class ServerPod {
  readonly seen: Seen[] = [];
  readonly child: ChildProcess;
  readonly ready: Promise<void>;

  constructor(pod: LabPod) {
    this.child = pod.spawn(process.execPath, ['-e', SERVER], { env: { ...process.env, POD: pod.name }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let stderr = '';
    this.child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`server in ${pod.name} exited (${code}): ${stderr}`)));
      this.child.stdout?.on('data', (c: Buffer) => {
        buffered += c.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line === 'ready') resolve();
          else this.seen.push(JSON.parse(line) as Seen);
        }
      });
    });
  }
}

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match !== null);
  return Number(match[1]);
}

describe('request-level proxy end to end', { skip: labSkip('proxy e2e') }, () => {
  let node: LabNode;
  let client: LabPod;
  let webs: LabPod[];
  let servers: ServerPod[];
  let tcp: TcpClient;
  let lab: LabAgent | undefined;
  let agent: AgentProcess | undefined;

  const labHost = whyNoLab() === undefined ? withLab({ after }) : undefined;

  const curl = async (args: string[]): Promise<{ status: number; body: string; headers: string }> => {
    const r = await client.run('curl', ['-sS', '-i', '--max-time', '10', '-w', '\n%{http_code}', ...args], { timeoutMs: 15_000 });
    const lines = r.stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    const text = lines.join('\n');
    const split = text.indexOf('\r\n\r\n');
    return { status, headers: `${text.slice(0, Math.max(0, split))}\n${r.stderr}`, body: split < 0 ? text : text.slice(split + 4) };
  };
  const raw = async (bytes: string, options: { halfClose?: boolean; timeoutMs?: number } = {}): Promise<{ text: string; how: string }> => {
    const r = await tcp.connect({ host: H1_VIP, port: 80, send: bytes, halfClose: options.halfClose ?? false, timeoutMs: options.timeoutMs ?? 5000 });
    assert.equal(r.connected, true, `connect failed: ${r.how} ${r.errorCode}`);
    return { text: r.received.toString('latin1'), how: r.how };
  };
  const upstreamSeen = (): number => servers.reduce((n, s) => n + s.seen.length, 0);

  before(async () => {
    assert.ok(labHost !== undefined);
    node = await labHost.addNode({ name: 'n1' });
    client = await node.addPod({ name: 'client', namespace: 'shop' });
    webs = [await node.addPod({ name: 'web-1', namespace: 'shop' }), await node.addPod({ name: 'web-2', namespace: 'shop' })];
    servers = webs.map((w) => new ServerPod(w));
    await Promise.all(servers.map((s) => s.ready));
    tcp = await startTcpClient(client);
    lab = await LabAgent.start({
      node,
      pods: [client, ...webs],
      discovery: [
        ...serviceObjects('shop', 'web', H1_VIP, [{ name: 'http', port: 80, targetPort: H1_PORT }], webs),
        ...serviceObjects('shop', 'web-h2', H2_VIP, [{ name: 'http', port: 80, targetPort: H2_PORT }], webs),
      ],
      // A short header timeout so the slowloris case answers quickly.
      config: { proxy: { http1: { headerTimeoutMs: 500 } } },
    });
    agent = lab.agent;
  });

  after(async () => {
    await lab?.stop();
  });

  it('carries HTTP/1.1 requests to a Service address, balanced over its pods, from the client pod’s own IP', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await curl([`http://${H1_VIP}/hello`]);
      assert.equal(r.status, 200, r.headers);
      const seen = JSON.parse(r.body) as Seen;
      assert.equal(seen.peer.replace(/^::ffff:/, ''), client.ip, 'the server saw the client pod IP');
      assert.equal(seen.version, '1.1');
      assert.match(seen.deadline ?? '', /^\d+$/, 'the route deadline was propagated as weft-deadline');
      pods.add(seen.pod);
    }
    assert.deepEqual([...pods].sort(), ['web-1', 'web-2'], 'both endpoints served');
    const s = await agent?.status<{ routes: RouteStatus[] }>();
    const route = s?.routes.find((r) => r.name === 'shop/web:http');
    assert.ok(route !== undefined, 'the route is on /status');
    assert.deepEqual(route.stack.map((l) => l.split(' ')[0]), ['tracing', 'metrics', 'load-shed', 'deadline', 'retry', 'balance', 'failure-accrual', 'endpoint']);
    assert.equal(route.balancer.endpoints.length, 2);
  });

  it('carries HTTP/2 (h2c) requests as streams of one connection, from the client pod’s own IP', async () => {
    const urls = Array.from({ length: 6 }, (_, i) => `http://${H2_VIP}/h2/${i}`);
    const connectionsBefore = (await agent?.status<{ connections: { totals: { connections: number } } }>())?.connections.totals.connections ?? 0;
    // One node:http2 session, six concurrent streams on it.
    const script = `
      const http2 = require('node:http2');
      const session = http2.connect(process.argv[1]);
      const urls = JSON.parse(process.argv[2]);
      Promise.all(urls.map((path) => new Promise((resolve, reject) => {
        const req = session.request({ ':path': path });
        req.on('response', (h) => { req.resume(); req.on('end', () => resolve(h[':status'])); });
        req.on('error', reject);
        req.end();
      }))).then((statuses) => { console.log(JSON.stringify(statuses)); session.close(); }, (e) => { console.error(String(e)); process.exit(1); });`;
    const r = await client.run(process.execPath, ['-e', script, `http://${H2_VIP}`, JSON.stringify(urls.map((u) => new URL(u).pathname))], { timeoutMs: 15_000 });
    assert.deepEqual(JSON.parse(r.stdout) as number[], [200, 200, 200, 200, 200, 200], r.stderr);
    const connectionsAfter = await waitFor(async () => {
      const n = (await agent?.status<{ connections: { totals: { connections: number } } }>())?.connections.totals.connections ?? 0;
      return n > connectionsBefore ? n : undefined;
    }, { timeoutMs: 3000, what: 'the h2 connection recorded on close' });
    assert.equal(connectionsAfter - connectionsBefore, 1, "six streams, one captured connection");
    const h2 = servers.flatMap((s) => s.seen).filter((s) => s.version === '2.0');
    assert.ok(h2.length >= 6);
    // The servers listen on :: so an IPv4 peer shows as v4-mapped.
    for (const seen of h2) assert.equal(seen.peer.replace(/^::ffff:/, ''), client.ip);
  });

  it('retries a 5xx GET on the other pod and answers 504 with a reason when the deadline passes', async () => {
    const before = upstreamSeen();
    const failing = await curl([`http://${H1_VIP}/fail?status=503`]);
    assert.equal(failing.status, 503, 'every attempt failed: the client sees the server’s 503');
    assert.equal(upstreamSeen() - before, 2, 'one attempt and one retry (the default limit)');
    const slow = await curl(['-H', 'weft-deadline: 300', `http://${H1_VIP}/slow?delay=2000`]);
    assert.equal(slow.status, 504);
    assert.match(slow.headers, /l5d-proxy-error: WEFT_E_RESILIENCE_DEADLINE_EXCEEDED/i);
  });

  const badRequests: Array<[string, string, RegExp]> = [
    ['a malformed request line', 'GET /a b HTTP/1.1\r\nHost: web\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', /^HTTP\/1\.1 400 /],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: web\r\nX-A: b\r\n c\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['a bare LF', 'GET / HTTP/1.1\nHost: web\n\n', /^HTTP\/1\.1 400 /],
    ['oversized headers', `GET / HTTP/1.1\r\nHost: web\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
  ];
  for (const [what, bytes, status] of badRequests) {
    it(`answers ${what} with the right status and closes the connection; nothing reaches the server`, async () => {
      const before = upstreamSeen();
      const r = await raw(bytes);
      assert.match(r.text, status);
      assert.match(r.text, /\r\nl5d-proxy-error: WEFT_E_HTTP1_/i);
      assert.equal(r.how, 'end', 'weft closed the connection');
      assert.equal(upstreamSeen(), before);
    });
  }

  it('answers slow headers with 408 after the header timeout', async () => {
    const r = await raw('GET / HTTP/1.1\r\nHost: web\r\nX-Slow: ', { timeoutMs: 5000 });
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.equal(r.how, 'end');
  });

  it('stays up with flat memory through a stream of bad requests', async () => {
    assert.ok(agent !== undefined);
    const pid = agent.pid;
    // Warm up, then measure: allocation pools and JIT settle in the first rounds.
    for (let i = 0; i < 100; i++) await raw(badRequests[i % badRequests.length]?.[1] ?? '');
    const start = rssKiB(pid);
    for (let i = 0; i < 600; i++) await raw(badRequests[i % badRequests.length]?.[1] ?? '');
    const grew = rssKiB(pid) - start;
    assert.ok(grew < 30 * 1024, `agent RSS grew ${grew} KiB over 600 bad requests`);
    const ok = await curl([`http://${H1_VIP}/after`]);
    assert.equal(ok.status, 200, 'good requests still served');
    const live = await fetch(`${agent.adminUrl}/live`);
    assert.equal(live.status, 200);
  });

  it('counts what detection decided, and a client that stays silent goes opaque after the detection timeout', async () => {
    assert.ok(agent !== undefined);
    // A client that sends nothing: after the (1 s default) detection timeout the connection is
    // spliced opaque, so a server that speaks first would still be heard.
    const silent = await tcp.connect({ host: H1_VIP, port: 80, halfClose: false, timeoutMs: 1500 });
    assert.equal(silent.connected, true);
    const metrics = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    assert.match(metrics, /^weft_protocol_detect_total\{protocol="http1",reason="http1"\} [1-9]/m);
    assert.match(metrics, /^weft_protocol_detect_total\{protocol="http2",reason="http2"\} [1-9]/m);
    assert.match(metrics, /^weft_protocol_detect_total\{protocol="opaque",reason="opaque-timeout"\} [1-9]/m);
    assert.match(metrics, /^response_total\{[^}]*authority="shop\/web:http"[^}]*status_code="504"[^}]*error="WEFT_E_RESILIENCE_DEADLINE_EXCEEDED"[^}]*\} [1-9]/m);
  });
});
