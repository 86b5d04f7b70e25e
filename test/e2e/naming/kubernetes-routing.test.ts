// Issue 5 end to end: per-request naming with Services from the Kubernetes API. Real pods (netns +
// veth + cgroup), the real BPF programs and the real agent with only a kubeconfig, against the
// fixture API server (the real list/watch protocol, read by the real @kubernetes/client-node).
// A Service with two pods behind it; its EndpointSlice scaled up, scaled down and a pod deleted,
// with the route's balancer on /status following each watch event within 100 ms while every
// request still answers 200; the l5d-dtab override sends one request to a staging Service, only
// from a caller of the Service's own namespace; /explain and `weft explain` show the binding; a
// malformed object from the API is skipped and counted while the Service keeps being served.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { HttpClient, HttpLoadResult, HttpRequestOptions, HttpServer } from '../../../agent/lab/http.ts';
import { startHttpClient, startHttpServer } from '../../../agent/lab/http.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import { AgentProcess } from '../../support/agent-process.ts';
import { FakeKubeApi } from '../../support/kube-api/server.ts';
import type { JsonObject } from '../../support/kube-api/server.ts';
import { writeKubeconfig } from '../../support/kube-api/kubeconfig.ts';
import type { WrittenKubeconfig } from '../../support/kube-api/kubeconfig.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';
import { recordPid, recordPin } from '../../support/ledger.ts';
import { freePort } from '../../support/net.ts';
import { labPrefix } from '../../support/run.ts';
import { waitFor } from '../../support/wait.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const WEB_IP = '198.19.255.40';
const STAGING_IP = '198.19.255.41';
const WEB_HOST = 'web.shop.svc.cluster.local';
const ROUTE = 'shop/web:http';
const TARGET_PORT = 8080;
/** What the issue promises: the balancer follows a watch event within this. */
const FOLLOW_MS = 100;
const OVERRIDE = '/svc/shop/web => /svc/shop/web-staging';

interface RouteStatus {
  name: string;
  balancer: { endpoints: Array<{ key: string }> };
}

interface Status {
  pods: Array<{ namespace: string; name: string; state: string }>;
  discovery: { source: string; synced: boolean; malformed?: number; lastMalformed?: string };
  routes: RouteStatus[];
}

interface Explained {
  backends: Array<{ bound: string; route: string | undefined; endpoints: string[] }>;
  steps: string;
  result: string;
}

describe('naming with Services from the Kubernetes API, end to end', { skip: labSkip('kubernetes routing e2e') }, () => {
  const lab = whyNoLab() === undefined ? withLab({ after }) : undefined;
  const api = new FakeKubeApi();
  let kubeconfig: WrittenKubeconfig | undefined;
  let agent: AgentProcess | undefined;
  let adminPort: number;
  let pinDir: string;
  let client: LabPod;
  let intruder: LabPod;
  let webPods: LabPod[];
  let stagingPod: LabPod;
  let webs: HttpServer[];
  let staging: HttpServer;
  let http: HttpClient;
  let intruderHttp: HttpClient;

  const key = (pod: LabPod): string => `${pod.ip}:${TARGET_PORT}`;
  const serverOf = (pod: LabPod): HttpServer => {
    const server = [...webs, staging].find((s) => s.pod === pod);
    assert.ok(server !== undefined);
    return server;
  };
  const slice = (name: string, service: string, pods: readonly LabPod[]): JsonObject => ({
    metadata: { namespace: 'shop', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'shop', name: p.name } })),
    ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }],
  });
  const webSlice = (pods: readonly LabPod[]): JsonObject => slice('web-7xk2p', 'web', pods);
  const status = async (): Promise<Status> => {
    assert.ok(agent !== undefined);
    return agent.status<Status>();
  };
  const routeKeys = async (): Promise<string[] | undefined> =>
    (await status()).routes.find((r) => r.name === ROUTE)?.balancer.endpoints.map((e) => e.key).sort();
  const toWeb = (path: string, extra: Partial<HttpRequestOptions> = {}): HttpRequestOptions => ({ host: WEB_IP, port: 80, path, headers: { host: WEB_HOST }, ...extra });
  /** Requests whose path starts with `prefix`, by the pod that served them. */
  const servedBy = (prefix: string): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const server of [...webs, staging]) {
      const n = server.requests.filter((r) => r.path.startsWith(prefix)).length;
      if (n > 0) counts.set(server.pod.name, n);
    }
    return counts;
  };

  /**
   * Applies a change to the API and measures, from just before the fixture writes the watch event
   * (apply() writes it synchronously to every open watch), until the route's balancer on /status
   * lists `want`: /status polled every 5 ms, so the figure includes up to one poll's overhead.
   */
  const follow = async (change: () => void, want: readonly string[], giveUpMs = 5000): Promise<{ ms: number; eventWall: number; wall: number }> => {
    const expected = [...want].sort().join(',');
    const eventWall = Date.now();
    const started = performance.now();
    change();
    for (;;) {
      const keys = await routeKeys();
      const ms = performance.now() - started;
      if (keys?.join(',') === expected) return { ms, eventWall, wall: Date.now() };
      if (ms > giveUpMs) assert.fail(`the route still lists ${keys?.join(', ')} ${Math.round(ms)} ms after the watch event, not ${expected}\n${agent?.tail()}`);
      await sleep(5);
    }
  };
  /**
   * A steady load from the client on the Service (open loop, 100 requests a second) for `durationMs`, each
   * response kept. The server holds each one 20 ms, so about two are pending at any time and P2C
   * spreads them over every endpoint (sequential sub-millisecond requests would all go to the one
   * that measured fastest).
   */
  const load = (prefix: string, durationMs: number): Promise<HttpLoadResult> =>
    http.load({ ...toWeb(`${prefix}load?delay=20`), rate: 100, durationMs, each: true, timeoutMs: 3000 });
  const allOk = (result: HttpLoadResult, what: string): void => {
    const failed = result.responses.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `${what}: ${failed.length} of ${result.responses.length} requests did not answer 200: ${JSON.stringify(result.outcomes)}`);
    assert.equal(result.responses.length, result.sent);
  };

  before(async () => {
    assert.ok(lab !== undefined);
    const node = await lab.addNode({ name: 'k1' });
    client = await node.addPod({ name: 'client', namespace: 'shop' });
    intruder = await node.addPod({ name: 'intruder', namespace: 'other' });
    webPods = [];
    for (const name of ['web-1', 'web-2', 'web-3']) webPods.push(await node.addPod({ name, namespace: 'shop' }));
    stagingPod = await node.addPod({ name: 'web-staging-1', namespace: 'shop' });
    webs = await Promise.all(webPods.map((pod) => startHttpServer(pod, { port: TARGET_PORT })));
    staging = await startHttpServer(stagingPod, { port: TARGET_PORT });
    // Running before the agent (a pod with no process is not meshed yet); each one's first request
    // asks for a new connection, so it is made once its pod is meshed.
    http = await startHttpClient(client);
    intruderHttp = await startHttpClient(intruder);

    const url = await api.start();
    kubeconfig = writeKubeconfig(url);
    for (const name of ['shop', 'other']) api.apply('namespaces', { metadata: { name } });
    for (const pod of [client, intruder, ...webPods, stagingPod]) api.apply('pods', pod.toKubernetes() as unknown as JsonObject);
    const service = (name: string, clusterIP: string): JsonObject => ({
      metadata: { namespace: 'shop', name },
      spec: { clusterIP, clusterIPs: [clusterIP], ports: [{ name: 'http', port: 80, targetPort: TARGET_PORT, protocol: 'TCP' }] },
    });
    api.apply('services', service('web', WEB_IP));
    api.apply('services', service('web-staging', STAGING_IP));
    // Two of the three web pods behind the Service at first.
    api.apply('endpointslices', webSlice(webPods.slice(0, 2)));
    api.apply('endpointslices', slice('web-staging-9q4rz', 'web-staging', [stagingPod]));

    adminPort = await freePort();
    pinDir = `${labPrefix()}-kpins`;
    recordPin(`/sys/fs/bpf/${pinDir}`);
    agent = AgentProcess.start({
      adminPort, onPid: recordPid, env: { KUBECONFIG: kubeconfig.path },
      config: { node: { name: node.name }, cgroup: { podsRoot: node.podsRootPath }, bpf: { pinDir }, admin: { address: '127.0.0.1', port: adminPort } },
    });
    await agent.waitReady();
    await waitFor(async () => {
      const s = await status();
      if (s.discovery.synced && s.pods.filter((p) => p.state === 'meshed').length === 6) return true;
      throw new Error(`synced ${s.discovery.synced}; pods ${s.pods.map((p) => `${p.namespace}/${p.name} ${p.state}`).join(', ')}`);
    }, { timeoutMs: 10_000, what: 'discovery synced and all six pods meshed from the API' });
  });

  after(async () => {
    await agent?.stop();
    if (pinDir !== undefined) rmSync(`/sys/fs/bpf/${pinDir}`, { recursive: true, force: true });
    kubeconfig?.remove();
    await api.close();
  });

  it('routes requests for the Service, by its DNS name and by its cluster IP, to both endpoints from the client pod’s own IP', async () => {
    const [web1, web2] = webPods as [LabPod, LabPod, LabPod];
    for (const [label, headers] of [['name', { host: WEB_HOST }], ['ip', {}]] as const) {
      const first = await http.request({ host: WEB_IP, port: 80, path: `/t1/${label}/0`, headers, newConnection: true });
      assert.equal(first.status, 200, `${label}: ${first.how} ${first.errorMessage} ${first.body.toString()}\n${agent?.tail()}`);
      // Concurrent and each held 20 ms by the server: P2C over peak-EWMA sends sequential requests
      // to whichever endpoint measured fastest, so only requests pending at once show both.
      const rest = await Promise.all(Array.from({ length: 12 }, (_, i) => http.request({ host: WEB_IP, port: 80, path: `/t1/${label}/${i + 1}?delay=20`, headers })));
      for (const r of rest) assert.equal(r.status, 200, `${label}: ${r.how} ${r.errorMessage}`);
      assert.deepEqual([...servedBy(`/t1/${label}/`).keys()].sort(), ['web-1', 'web-2'], `both endpoints served (Host ${label === 'name' ? WEB_HOST : WEB_IP})`);
    }
    for (const server of webs.slice(0, 2)) {
      for (const seen of server.requests.filter((r) => r.path.startsWith('/t1/'))) assert.equal(seen.remoteAddress.replace(/^::ffff:/, ''), client.ip, 'the server saw the client pod’s IP');
    }
    assert.equal(servedBy('/t1/').get('web-3'), undefined, 'web-3 is not behind the Service yet');
    assert.equal(servedBy('/t1/').get('web-staging-1'), undefined);
    assert.deepEqual(await routeKeys(), [key(web1), key(web2)].sort());
  });

  it('scale up: the balancer lists a new endpoint within 100 ms of the watch event, and it gets traffic', async (t) => {
    const [web1, web2, web3] = webPods as [LabPod, LabPod, LabPod];
    // Measured from just before apply() (the fixture has no event hook; apply writes the event to
    // the open watches synchronously) to the first /status poll listing the new set, with requests
    // flowing (the last test shows the same with none). Also reported, not asserted: when web-3's
    // server saw its first request.
    const running = load('/t2/', 1500);
    await sleep(300);
    const followed = await follow(() => api.apply('endpointslices', webSlice([web1, web2, web3])), [key(web1), key(web2), key(web3)]);
    const result = await running;
    const firstAtWeb3 = serverOf(web3).requests.find((r) => r.path.startsWith('/t2/'));
    t.diagnostic(`scale up: route listed 3 endpoints ${followed.ms.toFixed(1)} ms after the watch event; web-3's first request ${firstAtWeb3 === undefined ? 'never came' : `${firstAtWeb3.at - followed.eventWall} ms after it (wall clock)`}`);
    assert.ok(followed.ms <= FOLLOW_MS, `the balancer followed in ${followed.ms.toFixed(1)} ms (> ${FOLLOW_MS})`);
    allOk(result, 'scale up');
    assert.ok((servedBy('/t2/').get('web-3') ?? 0) > 0, 'web-3 received traffic once behind the Service');
  });

  it('scale down: the balancer drops the endpoint within 100 ms and it gets no request after that', async (t) => {
    const [web1, web2, web3] = webPods as [LabPod, LabPod, LabPod];
    const running = load('/t3/', 1500);
    await sleep(300);
    const followed = await follow(() => api.apply('endpointslices', webSlice([web1, web2])), [key(web1), key(web2)]);
    const result = await running;
    t.diagnostic(`scale down: route listed 2 endpoints ${followed.ms.toFixed(1)} ms after the watch event`);
    assert.ok(followed.ms <= FOLLOW_MS, `the balancer followed in ${followed.ms.toFixed(1)} ms (> ${FOLLOW_MS})`);
    allOk(result, 'scale down');
    // A request picked just before the reset may still be on its way: a few ms of slack.
    const late = serverOf(web3).requests.filter((r) => r.path.startsWith('/t3/') && r.at > followed.wall + 10);
    assert.deepEqual(late.map((r) => r.path), [], 'web-3 got no request after the balancer dropped it');
    assert.ok((servedBy('/t3/').get('web-1') ?? 0) > 0 && (servedBy('/t3/').get('web-2') ?? 0) > 0);
  });

  it('deleting a pod: its endpoint leaves the balancer within 100 ms and no request fails during or after, even once the pod is gone', async (t) => {
    const [web1, web2] = webPods as [LabPod, LabPod, LabPod];
    const running = load('/t4/', 2500);
    await sleep(300);
    // What the endpoint-slice controller and the API do on a pod deletion: the slice loses the
    // endpoint, the pod object goes.
    const followed = await follow(() => {
      api.apply('endpointslices', webSlice([web1]));
      assert.ok(api.delete('pods', 'shop', web2.name));
    }, [key(web1)]);
    t.diagnostic(`pod deletion: route listed 1 endpoint ${followed.ms.toFixed(1)} ms after the watch events`);
    assert.ok(followed.ms <= FOLLOW_MS, `the balancer followed in ${followed.ms.toFixed(1)} ms (> ${FOLLOW_MS})`);
    await waitFor(async () => (await status()).pods.every((p) => p.name !== web2.name), { timeoutMs: 3000, what: 'web-2 released by the agent' });
    // The pod really ends while the load goes on: its server stops, its netns and cgroup go.
    await serverOf(web2).stop();
    await web2.destroy();
    const result = await running;
    allOk(result, 'pod deletion');
    const late = serverOf(web2).requests.filter((r) => r.path.startsWith('/t4/') && r.at > followed.wall + 10);
    assert.deepEqual(late.map((r) => r.path), [], 'web-2 got no request after the balancer dropped it');
    assert.deepEqual(await routeKeys(), [key(web1)]);
  });

  it('the override header sends one request to the staging Service and the next one is unaffected', async () => {
    const r1 = await http.request(toWeb('/t5/override', { headers: { host: WEB_HOST, 'l5d-dtab': OVERRIDE } }));
    assert.equal(r1.status, 200, `${r1.how} ${r1.body.toString()}`);
    assert.deepEqual([...servedBy('/t5/override').keys()], ['web-staging-1'], 'the overridden request went to web-staging');
    const r2 = await http.request(toWeb('/t5/plain'));
    assert.equal(r2.status, 200);
    assert.deepEqual([...servedBy('/t5/plain').keys()], ['web-1'], 'the next request, without the header, went to web');
    // By cluster IP (no Host name): named through /dst → /#/k8s-ip → /svc/shop/web/80, so the override applies too.
    const r3 = await http.request({ host: WEB_IP, port: 80, path: '/t5/ip-override', headers: { 'weft-dtab': OVERRIDE } });
    assert.equal(r3.status, 200);
    assert.deepEqual([...servedBy('/t5/ip-override').keys()], ['web-staging-1'], 'weft-dtab on a request to the cluster IP went to web-staging');
  });

  it('an override from a pod of another namespace is stripped and not followed', async () => {
    const r = await intruderHttp.request(toWeb('/t5/intruder', { headers: { host: WEB_HOST, 'l5d-dtab': OVERRIDE, 'weft-dtab': OVERRIDE }, newConnection: true }));
    assert.equal(r.status, 200, `${r.how} ${r.body.toString()}\n${agent?.tail()}`);
    assert.deepEqual([...servedBy('/t5/intruder').keys()], ['web-1'], 'not redirected to web-staging');
    const seen = serverOf(webPods[0] as LabPod).requests.find((q) => q.path === '/t5/intruder');
    assert.ok(seen !== undefined);
    assert.equal(seen.remoteAddress.replace(/^::ffff:/, ''), intruder.ip, 'it did go through the mesh from the intruder pod');
    assert.equal(seen.headers['l5d-dtab'], undefined, 'l5d-dtab stripped before forwarding');
    assert.equal(seen.headers['weft-dtab'], undefined, 'weft-dtab stripped before forwarding');
  });

  it('a malformed override from the Service’s namespace is a 400 naming the reason, and reaches no server', async () => {
    const r = await http.request(toWeb('/t5/malformed', { headers: { host: WEB_HOST, 'l5d-dtab': '/svc/shop/web =>> ?!' } }));
    assert.equal(r.status, 400, `${r.how} ${r.body.toString()}`);
    assert.equal(r.headers['l5d-proxy-error'], 'WEFT_E_NAMING_BAD_OVERRIDE');
    // Give a stray forward time to show up before saying nothing arrived.
    const ok = await http.request(toWeb('/t5/after-malformed'));
    assert.equal(ok.status, 200, 'the client’s next request is served');
    await serverOf(webPods[0] as LabPod).waitForRequest((q) => q.path === '/t5/after-malformed');
    assert.deepEqual([...servedBy('/t5/malformed').keys()], [], 'nothing reached a server');
  });

  it('counts overrides on /metrics: honoured, stripped from an untrusted caller, invalid', async () => {
    assert.ok(agent !== undefined);
    const text = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    const count = (outcome: string): number => {
      const match = new RegExp(`^weft_dtab_override_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text);
      return match === null ? 0 : Number(match[1]);
    };
    assert.ok(count('honoured') >= 2, `honoured: ${count('honoured')}`);
    assert.ok(count('stripped-untrusted') >= 1, `stripped-untrusted: ${count('stripped-untrusted')}`);
    assert.ok(count('invalid') >= 1, `invalid: ${count('invalid')}`);
  });

  it('explains the binding on the admin port and with `weft explain`: /#/k8s/shop/80/web and its current endpoints', async () => {
    assert.ok(agent !== undefined);
    const web1 = webPods[0] as LabPod;
    const response = await fetch(`${agent.adminUrl}/explain?authority=web.shop:80&namespace=shop`);
    assert.equal(response.status, 200);
    const answer = (await response.json()) as Explained;
    assert.match(answer.steps, /\/#\/k8s\/shop\/web\/80/);
    assert.deepEqual(answer.backends.map((b) => ({ bound: b.bound, route: b.route, endpoints: b.endpoints })), [{ bound: '/#/k8s/shop/80/web', route: ROUTE, endpoints: [key(web1)] }]);

    const cli = spawn(process.execPath, [join(root, 'agent/cli/main.ts'), 'explain', 'web.shop:80', '--admin', `127.0.0.1:${adminPort}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    cli.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = (await once(cli, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\/#\/k8s\/shop\/web\/80/);
    assert.ok(stdout.includes(`→ ${ROUTE}: ${key(web1)}`), stdout);
  });

  it('a malformed object from the API is skipped and counted; the Service keeps being served', async (t: TestContext) => {
    const web1 = webPods[0] as LabPod;
    const before = (await status()).discovery;
    assert.equal(typeof before.malformed, 'number', 'the Kubernetes discovery source reports skipped objects on /status');
    const skipped = async (count: number, what: RegExp): Promise<Status['discovery']> =>
      waitFor(async () => {
        const d = (await status()).discovery;
        return (d.malformed ?? 0) >= count && what.test(d.lastMalformed ?? '') ? d : undefined;
      }, { timeoutMs: 3000, what: `${count} malformed objects counted, the last ${what}` });
    // The live slice turns malformed: its last good version stays.
    api.apply('endpointslices', { ...webSlice([web1]), endpoints: 'nope' });
    const first = await skipped((before.malformed ?? 0) + 1, /^EndpointSlice shop\/web-7xk2p: /);
    // A new Service with a port that is no number: left out.
    api.apply('services', { metadata: { namespace: 'shop', name: 'broken' }, spec: { clusterIP: '198.19.255.42', ports: [{ name: 'http', port: 'eighty', protocol: 'TCP' }] } });
    const second = await skipped((before.malformed ?? 0) + 2, /^Service shop\/broken: /);
    t.diagnostic(`discovery.malformed ${before.malformed} → ${second.malformed}; ${first.lastMalformed}; ${second.lastMalformed}`);
    const r = await http.request(toWeb('/t7/after-bad-input'));
    assert.equal(r.status, 200, `${r.how} ${r.body.toString()}\n${agent?.tail()}`);
    assert.deepEqual([...servedBy('/t7/').keys()], ['web-1'], 'the last good slice is still served');
    assert.deepEqual(await routeKeys(), [key(web1)]);
    assert.ok(agent?.running, 'the agent is still up');
  });

  // Discovery pushes each change of a routed backend to its route (the advisory layer's `changed`
  // → OutboundHttpRoutes.syncExisting), so a balancer follows even while no request flows.
  it('the balancer follows a watch event within 100 ms with no request flowing', async (t) => {
    const [web1, , web3] = webPods as [LabPod, LabPod, LabPod];
    // The slice is good again (it was malformed above) and has web-3 back; nothing is sent meanwhile.
    let idle: number | undefined;
    try {
      idle = (await follow(() => api.apply('endpointslices', webSlice([web1, web3])), [key(web1), key(web3)], 1000)).ms;
    } catch {
      idle = undefined;
    }
    t.diagnostic(`no traffic: ${idle === undefined ? 'the route did not follow within 1000 ms' : `route followed in ${idle.toFixed(1)} ms`}`);
    const r = await http.request(toWeb('/t8/after-idle'));
    assert.equal(r.status, 200);
    assert.deepEqual(await routeKeys(), [key(web1), key(web3)].sort(), 'the next request brings the route up to date');
    assert.ok(idle !== undefined && idle <= FOLLOW_MS, `no traffic: the route followed in ${idle?.toFixed(1) ?? 'more than 1000'} ms (> ${FOLLOW_MS})`);
  });

  it('an empty answer for a Service with live endpoints is held: the balancer keeps the last good set, marked stale', async () => {
    const [web1, , web3] = webPods as [LabPod, LabPod, LabPod];
    api.apply('endpointslices', webSlice([]));
    await sleep(300);
    for (let i = 0; i < 4; i++) {
      const r = await http.request(toWeb(`/t9/held-${i}`));
      assert.equal(r.status, 200, 'requests keep flowing to the last good endpoints');
    }
    assert.deepEqual(await routeKeys(), [key(web1), key(web3)].sort(), 'the balancer kept the last good set');
    const stale = (await agent?.status<{ discovery: { stale: Array<{ service: string; reason: string; served: number; answered: number }> } }>())?.discovery.stale ?? [];
    assert.deepEqual(stale.map((s) => [s.service, s.reason, s.served, s.answered]), [['shop/web:http', 'empty-unconfirmed', 2, 0]]);
    const metrics = await (await fetch(`${agent?.adminUrl ?? ''}/metrics`)).text();
    assert.match(metrics, /^weft_discovery_stale_services\{source="[^"]+",reason="empty-unconfirmed"\} 1$/m, 'staleness on /metrics');
    assert.match(metrics, /^weft_discovery_updates_total\{source="[^"]+"\} [1-9]/m);
    // The endpoints come back before confirmation: the hold is released, nothing stale.
    api.apply('endpointslices', webSlice([web1, web3]));
    await waitFor(async () => ((await agent?.status<{ discovery: { stale: unknown[] } }>())?.discovery.stale.length === 0 ? true : undefined), { timeoutMs: 2000, what: 'the hold released' });
  });
});
