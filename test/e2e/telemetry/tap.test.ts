// Issue 6 telemetry end to end — real pods, the real BPF programs and the real agent process:
// `weft tap` shows a meshed pod's requests as they happen (with their upstream pod and trace id),
// /metrics carries Linkerd's labels for them, the access log has one line each, and the log level
// changes at runtime through the admin port (a bad level and an unknown path are refused).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { main } from '../../../agent/cli/main.ts';
import { HttpClient, HttpServer } from '../../../agent/lab/http.ts';
import type { LabNode } from '../../../agent/lab/node.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import type { AgentProcess } from '../../support/agent-process.ts';
import { LabAgent, serviceObjects } from '../../support/lab-agent.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';
import { waitFor } from '../../support/wait.ts';

const VIP = '198.19.255.30';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('telemetry end to end: tap, Linkerd labels, access log, log level', { skip: labSkip('telemetry e2e') }, () => {
  let node: LabNode;
  let web: LabPod;
  let client: LabPod;
  let server: HttpServer;
  let http: HttpClient;
  let lab: LabAgent | undefined;
  let agent: AgentProcess | undefined;
  let adminPort: number;

  const labHost = whyNoLab() === undefined ? withLab({ after }) : undefined;
  const admin = (): string => `http://127.0.0.1:${adminPort}`;

  before(async () => {
    assert.ok(labHost !== undefined);
    node = await labHost.addNode({ name: 'n1' });
    web = await node.addPod({ name: 'web', namespace: 'shop' });
    client = await node.addPod({ name: 'client', namespace: 'shop' });
    server = await HttpServer.start(web);
    http = await HttpClient.start(client);
    lab = await LabAgent.start({
      node,
      pods: [web, client],
      discovery: serviceObjects('shop', 'web', VIP, [{ name: 'http', port: 80, targetPort: server.port }], [web]),
      config: { telemetry: { accessLog: true } },
    });
    agent = lab.agent;
    adminPort = lab.adminPort;
  });

  after(async () => {
    await lab?.stop();
  });

  it('weft tap prints the matching requests of a meshed pod, one line each, with upstream pod and trace id', async () => {
    const out: string[] = [];
    const tapped = main(['tap', '--admin', `127.0.0.1:${adminPort}`, '--source', 'shop/client', '--path', '/tapped', '--max', '2'], {
      stdout: (t) => void out.push(t), stderr: (t) => void out.push(`ERR ${t}`),
    }, {});
    // The tap is subscribed once the agent answered its head; give it a moment, then send.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = [
      await http.request({ host: VIP, port: 80, path: '/other', headers: { host: 'web.shop' } }),
      await http.request({ host: VIP, port: 80, path: '/tapped/1', headers: { host: 'web.shop', traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } }),
      await http.request({ host: VIP, port: 80, method: 'POST', path: '/tapped/2', body: 'x', headers: { host: 'web.shop' } }),
    ];
    assert.deepEqual(sent.map((r) => r.status), [200, 200, 200]);
    assert.equal(await tapped, 0, out.join(''));
    const lines = out.join('').trimEnd().split('\n');
    assert.equal(lines.length, 2, out.join(''));
    assert.match(lines[0] ?? '', new RegExp(`shop/client → web\\.shop \\(shop/web:http\\) GET /tapped/1 200 [0-9.]+ms upstream=${web.ip.replaceAll('.', '\\.')}:${server.port} trace=${TRACE}$`));
    assert.match(lines[1] ?? '', /shop\/client → web\.shop \(shop\/web:http\) POST \/tapped\/2 200 /);
  });

  it('/metrics carries Linkerd\'s labels for those requests', async () => {
    const text = await (await fetch(`${admin()}/metrics`)).text();
    const labels = 'direction="outbound",authority="shop/web:http",dst_namespace="shop",dst_service="web",namespace="shop",pod="client",tls="no_identity",no_tls_reason="not_provided_by_service_discovery"';
    assert.match(text, new RegExp(`^request_total\\{${labels}\\} [3-9]`, 'm'));
    assert.match(text, new RegExp(`^response_total\\{${labels},status_code="200",classification="success",grpc_status_code="",error=""\\} [3-9]`, 'm'));
    assert.match(text, new RegExp(`^response_latency_ms_count\\{${labels},status_code="200"\\} [3-9]`, 'm'));
    assert.match(text, /^# TYPE weft_metrics_label_overflow_total counter$/m);
  });

  it('the access log has one JSON line per request, with its trace id and upstream', async () => {
    const line = await waitFor(() => {
      const found = agent?.output.join('').split('\n').find((l) => l.includes('"log":"access"') && l.includes('/tapped/1'));
      return found === undefined ? undefined : (JSON.parse(found) as Record<string, unknown>);
    }, { timeoutMs: 2000, what: 'the access log line' });
    assert.equal(line['source'], 'shop/client');
    assert.equal(line['authority'], 'web.shop');
    assert.equal(line['method'], 'GET');
    assert.equal(line['status'], 200);
    assert.equal(line['traceId'], TRACE);
    assert.equal(line['upstream'], `${web.ip}:${server.port}`);
    assert.equal(typeof line['durationMs'], 'number');
  });

  it('the log level changes at runtime through the admin port; a bad level is a 400 and an unknown path a 404', async () => {
    assert.deepEqual(await (await fetch(`${admin()}/log-level`)).json(), { level: 'info' });
    const put = await fetch(`${admin()}/log-level`, { method: 'PUT', body: 'debug' });
    assert.deepEqual(await put.json(), { level: 'debug', previous: 'info' });
    await waitFor(() => agent?.output.join('').includes('log level changed through the admin endpoint') === true, { timeoutMs: 2000, what: 'the change logged' });
    // A child logger made at start (the proxy's) now logs at debug: a failing request is logged.
    const failed = await http.request({ host: VIP, port: 80, path: '/', headers: { host: 'web.shop', 'l5d-dtab': '/svc => !' } });
    assert.ok((failed.status ?? 0) >= 400);
    await waitFor(() => agent?.output.join('').split('\n').some((l) => l.includes('"level":"debug"') && l.includes('"area":"proxy"')) === true,
      { timeoutMs: 2000, what: 'a debug line from the proxy\'s logger' });
    const bad = await fetch(`${admin()}/log-level`, { method: 'PUT', body: 'chatty' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /"chatty" is not a log level: send one of/);
    const unknown = await fetch(`${admin()}/no-such-thing`);
    assert.equal(unknown.status, 404);
    assert.equal((await fetch(`${admin()}/tap?status=nope`)).status, 400);
    await fetch(`${admin()}/log-level`, { method: 'PUT', body: 'info' });
  });

  it('a pod that leaves the node takes its series with it', async () => {
    assert.match(await (await fetch(`${admin()}/metrics`)).text(), /pod="client"/);
    lab?.writeInventory([web]);
    await waitFor(async () => !/pod="client"/.test(await (await fetch(`${admin()}/metrics`)).text()), { timeoutMs: 3000, what: 'the client\'s series gone' });
    const text = await (await fetch(`${admin()}/metrics`)).text();
    assert.doesNotMatch(text, /source_pod="client"/, 'its TCP series too');
  });
});
