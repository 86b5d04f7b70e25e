// `npm run bench` (scripts/bench.sh runs setup, installs the tools, then this on Node 24).
// One lab node with three pods, the real agent, and three ways for each workload:
//   direct   client pod `direct` (not meshed) → server pod
//   haproxy  pod `direct` → haproxy on 127.0.0.1 in that pod (where weft's outbound listener sits in a
//            meshed pod) → server pod
//   weft     pod `client` (meshed, real connect4 capture) → a Service address → the agent → server pod
// Pinning (2 cores): load generator and servers on cpu 0, the proxy under test (agent or haproxy) on
// cpu 1. Rounds are interleaved (every workload × target once per round) and ratios are per round,
// then the median. See scripts/bench/README.md.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../agent/lab/lab.ts';
import type { LabPod } from '../../agent/lab/pod.ts';
import { newPrefix } from '../../agent/lab/names.ts';
import { findLeftovers, isClean, removeLeftovers } from '../../agent/lab/sweep.ts';
import { HAPROXY_PORTS, proxyConfig, serverConfig } from './haproxy.ts';
import type { BenchOpenLoopResult } from './open-loop.ts';
import { Histogram, median, medianDifference, medianRatio } from './stats.ts';
import { latencySvg } from './svg.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NODE = process.execPath;
const PORTS = { h1: 8080, h2: 8081, grpc: 9090, tcp: 5201 } as const;
const VIPS = { h1: '198.19.255.40', h2: '198.19.255.41', grpc: '198.19.255.42', tcp: '198.19.255.43' } as const;
const LOAD_CPU = '0';
const PROXY_CPU = '1';
const CLK_TCK = 100;
const IDLE_CONNECTIONS = 2000;

type Target = 'direct' | 'haproxy' | 'weft';
type Workload = 'h1-c1' | 'h1-c32' | 'h2-m32' | 'grpc-unary' | 'tcp-bulk';
const TARGETS: readonly Target[] = ['direct', 'haproxy', 'weft'];
const WORKLOADS: readonly Workload[] = ['h1-c1', 'h1-c32', 'h2-m32', 'grpc-unary', 'tcp-bulk'];
const UNITS: Record<Workload, string> = { 'h1-c1': 'req/s', 'h1-c32': 'req/s', 'h2-m32': 'req/s', 'grpc-unary': 'calls/s', 'tcp-bulk': 'Gbit/s' };

interface Options {
  readonly seconds: number;
  readonly rounds: number;
  readonly idlePods: number;
  readonly profile: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  let seconds = 3;
  let rounds = 3;
  let idlePods = 100;
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--profile') profile = true;
    else if (a === '--seconds') seconds = Number(argv[++i]);
    else if (a === '--rounds') rounds = Number(argv[++i]);
    else if (a === '--idle-pods') idlePods = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}; use --profile, --seconds N, --rounds N, --idle-pods N`);
  }
  if (!(seconds > 0) || !(rounds >= 1) || !(idlePods >= 0)) throw new Error('--seconds, --rounds and --idle-pods must be positive numbers');
  return { seconds, rounds, idlePods, profile };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? Number.NaN);
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Per-CPU busy ticks and total ticks from /proc/stat. */
function cpuStat(): Array<{ busy: number; total: number }> {
  return readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => {
    const v = l.split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  });
}

/** How busy each CPU is over `ms` while the bench runs nothing: other work on the machine skews every figure. */
async function backgroundBusy(ms: number): Promise<number[]> {
  const a = cpuStat();
  await sleep(ms);
  const b = cpuStat();
  return b.map((x, i) => Math.round((100 * (x.busy - (a[i]?.busy ?? 0))) / Math.max(1, x.total - (a[i]?.total ?? 0))));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts a long-running process in a pod and waits for `ready` on its output (or a delay). */
async function startIn(pod: LabPod, what: string, command: string, args: readonly string[], ready?: RegExp): Promise<ChildProcess> {
  const child = pod.spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${output}`);
    if (ready === undefined ? Date.now() > deadline - 9_500 : ready.test(output)) return child;
    await sleep(50);
  }
  throw new Error(`${what} did not start within 10 s: ${output}`);
}

async function runIn(pod: LabPod, command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  const r = await pod.run('taskset', ['-c', LOAD_CPU, command, ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} in ${pod.name} failed (${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

class Agent {
  readonly child: ChildProcess;
  readonly adminUrl: string;
  output = '';

  constructor(configPath: string, adminPort: number, profileDir: string | undefined) {
    const prof = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
    this.child = spawn('taskset', ['-c', PROXY_CPU, NODE, ...prof, join(root, 'agent/cli/main.ts'), 'agent', '--config', configPath], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WEFT_CONFIG: '', KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
    });
    const keep = (c: Buffer): void => {
      this.output = (this.output + c.toString()).slice(-20_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('agent has no pid');
    return this.child.pid;
  }

  async meshed(): Promise<number> {
    const r = await fetch(`${this.adminUrl}/status`, { signal: AbortSignal.timeout(5000) });
    const s = (await r.json()) as { pods: Array<{ state: string }> };
    return s.pods.filter((p) => p.state === 'meshed').length;
  }

  async waitMeshed(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`agent exited (${this.child.exitCode}):\n${this.output}`);
      try {
        if ((await this.meshed()) >= count) return;
      } catch (error) {
        last = `${String(error)} ${String((error as { cause?: unknown }).cause)}`; // not up yet
      }
      await sleep(200);
    }
    throw new Error(`agent did not mesh ${count} pods within ${timeoutMs} ms (${last}):\n${this.output.slice(-3000)}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await once(this.child, 'exit');
    clearTimeout(timer);
  }
}

function version(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]?.trim() ?? '';
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.split('\n')[0]?.trim() ?? 'unknown';
  }
}

function machineFacts(): Record<string, unknown> {
  const git = version('git', ['-C', root, 'rev-parse', 'HEAD']);
  return {
    hostname: hostname(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    memTotalMiB: Math.round(totalmem() / 1048576),
    kernel: release(),
    node: process.version,
    haproxy: version('haproxy', ['-v']),
    wrk: version('wrk', ['-v']),
    h2load: version('h2load', ['--version']),
    iperf3: version('iperf3', ['--version']),
    weftCommit: git,
    governor: existsSync('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor') ? readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor', 'utf8').trim() : 'n/a',
  };
}

function services(serverIp: string): unknown {
  const items: unknown[] = [];
  for (const key of ['h1', 'h2', 'grpc', 'tcp'] as const) {
    const name = `bench-${key}`;
    const port = PORTS[key];
    const servicePort = key === 'h1' || key === 'h2' ? 80 : port;
    items.push(
      { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'bench', name }, spec: { clusterIP: VIPS[key], ports: [{ name: 'p', port: servicePort, targetPort: port, protocol: 'TCP' }] } },
      {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { namespace: 'bench', name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4', endpoints: [{ addresses: [serverIp], conditions: { ready: true } }],
        ports: [{ name: 'p', port, protocol: 'TCP' }],
      },
    );
  }
  return { apiVersion: 'v1', kind: 'List', items };
}

interface Endpoints {
  readonly pod: LabPod;
  readonly h1: string; // host:port
  readonly h2: string;
  readonly grpc: string;
  readonly tcp: [string, number];
}

async function runWorkload(w: Workload, e: Endpoints, seconds: number): Promise<{ value: number; errors: number }> {
  const t = seconds * 1000 + 20_000;
  switch (w) {
    case 'h1-c1':
    case 'h1-c32': {
      const out = await runIn(e.pod, 'wrk', ['-t1', `-c${w === 'h1-c1' ? 1 : 32}`, `-d${seconds}s`, `http://${e.h1}/`], t);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
      const bad = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?(\d+)/.exec(out)?.[1] ?? 0);
      return { value: rps, errors: bad };
    }
    case 'h2-m32': {
      const out = await runIn(e.pod, 'h2load', ['-t1', '-c1', '-m32', '-D', String(seconds), `http://${e.h2}/`], t);
      const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
      const failed = Number(/requests: .* (\d+) failed/.exec(out)?.[1] ?? 0) + Number(/status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)?.[1] ?? 0);
      return { value: rps, errors: failed };
    }
    case 'grpc-unary': {
      const out = await runIn(e.pod, NODE, [join(root, 'scripts/bench/grpc-load.ts'), 'client', e.grpc, '32', String(seconds)], t);
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { rps: number; errors: number };
      return { value: r.rps, errors: r.errors };
    }
    case 'tcp-bulk': {
      const out = await runIn(e.pod, 'iperf3', ['-c', e.tcp[0], '-p', String(e.tcp[1]), '-t', String(seconds), '-J'], t);
      const r = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
      return { value: r.end.sum_received.bits_per_second / 1e9, errors: 0 };
    }
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the bench makes network namespaces, cgroups and BPF attachments: run it as root');
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const outDir = join(root, 'bench-results', stamp);
  mkdirSync(outDir, { recursive: true });

  const background = { busyPercentPerCpu: await backgroundBusy(1000), loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number) };
  if (background.busyPercentPerCpu.some((b) => b > 10)) {
    say(`! the machine is busy before the bench starts (cpu busy ${background.busyPercentPerCpu.join('/')} %, load ${background.loadAverage.join(' ')}): figures will be noisy; run it on a quiet machine`);
  }
  const stale = findLeftovers('weft-bench');
  if (!isClean(stale)) {
    say('· removing what an earlier bench left behind');
    await removeLeftovers(stale);
  }
  const prefix = newPrefix('weft-bench');
  const lab = new Lab({ prefix });
  const files = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  let agent: Agent | undefined;
  let stopping: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    stopping ??= (async () => {
      await agent?.stop().catch((error: unknown) => say(`! stopping the agent: ${String(error)}`));
      await lab.destroy().catch((error: unknown) => say(`! removing the lab: ${String(error)}`));
      rmSync(`/sys/fs/bpf/${prefix}`, { recursive: true, force: true });
      rmSync(files, { recursive: true, force: true });
    })();
    return stopping;
  };
  const onSignal = (): void => {
    say('\n· interrupted: cleaning up');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    say(`weft bench (${prefix}): ${options.rounds} interleaved rounds of ${options.seconds} s; generator+servers on cpu ${LOAD_CPU}, proxy on cpu ${PROXY_CPU}`);
    const node = await lab.addNode({ name: 'n1' });
    const server = await node.addPod({ name: 'server', namespace: 'bench', labels: { app: 'server' } });
    const client = await node.addPod({ name: 'client', namespace: 'bench', labels: { app: 'client' } });
    const direct = await node.addPod({ name: 'direct', namespace: 'bench', labels: { app: 'direct' } });

    const serverCfg = join(files, 'origin.cfg');
    const proxyCfg = join(files, 'haproxy.cfg');
    writeFileSync(serverCfg, serverConfig(PORTS.h1, PORTS.h2, Number(LOAD_CPU)));
    writeFileSync(proxyCfg, proxyConfig({ serverIp: server.ip, h1Port: PORTS.h1, h2Port: PORTS.h2, grpcPort: PORTS.grpc, tcpPort: PORTS.tcp }, Number(PROXY_CPU)));
    await startIn(server, 'origin haproxy', 'taskset', ['-c', LOAD_CPU, 'haproxy', '-db', '-f', serverCfg]);
    await startIn(server, 'gRPC server', 'taskset', ['-c', LOAD_CPU, NODE, join(root, 'scripts/bench/grpc-load.ts'), 'server', String(PORTS.grpc)], /listening/);
    await startIn(server, 'iperf3 server', 'taskset', ['-c', LOAD_CPU, 'iperf3', '-s', '--forceflush', '-p', String(PORTS.tcp)], /Server listening/);
    // A pod is meshed once a process lives in it (the agent finds its netns through one): a pause
    // process, as a sandbox would have.
    client.spawn('sleep', ['infinity'], { stdio: 'ignore' });
    const haproxy = await startIn(direct, 'haproxy', 'taskset', ['-c', PROXY_CPU, 'haproxy', '-db', '-f', proxyCfg]);

    const inventoryFile = join(files, 'pods.json');
    const discoveryFile = join(files, 'services.json');
    const meshedPods: LabPod[] = [client];
    const writeInventory = (): void =>
      writeFileSync(inventoryFile, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: meshedPods.map((p) => p.toKubernetes()) }));
    writeInventory();
    writeFileSync(discoveryFile, JSON.stringify(services(server.ip)));
    const adminPort = await freePort();
    const configPath = join(files, 'agent.json');
    writeFileSync(configPath, JSON.stringify({
      node: { name: node.name },
      cgroup: { podsRoot: node.podsRootPath },
      bpf: { pinDir: prefix },
      inventory: { file: inventoryFile },
      discovery: { file: discoveryFile },
      admin: { address: '127.0.0.1', port: adminPort },
      log: { level: process.env.WEFT_BENCH_LOG ?? 'warn' },
    }));
    agent = new Agent(configPath, adminPort, options.profile ? outDir : undefined);
    await agent.waitMeshed(1, 30_000);
    const agentPid = agent.pid; // taskset execs node: the same PID
    const rssAtStart = rssKiB(agentPid);
    say(`· lab up: server ${server.ip}, meshed client ${client.ip}, direct client ${direct.ip}; agent pid ${agentPid} (${(rssAtStart / 1024).toFixed(1)} MiB RSS)`);

    const endpoints: Record<Target, Endpoints> = {
      direct: { pod: direct, h1: `${server.ip}:${PORTS.h1}`, h2: `${server.ip}:${PORTS.h2}`, grpc: `${server.ip}:${PORTS.grpc}`, tcp: [server.ip, PORTS.tcp] },
      haproxy: { pod: direct, h1: `127.0.0.1:${HAPROXY_PORTS.h1}`, h2: `127.0.0.1:${HAPROXY_PORTS.h2}`, grpc: `127.0.0.1:${HAPROXY_PORTS.grpc}`, tcp: ['127.0.0.1', HAPROXY_PORTS.tcp] },
      weft: { pod: client, h1: `${VIPS.h1}:80`, h2: `${VIPS.h2}:80`, grpc: `${VIPS.grpc}:${PORTS.grpc}`, tcp: [VIPS.tcp, PORTS.tcp] },
    };
    // Every path answers before anything is timed.
    for (const target of TARGETS) {
      const e = endpoints[target];
      const r = await e.pod.run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `http://${e.h1}/`], { timeoutMs: 10_000 });
      if (r.stdout !== '200') throw new Error(`${target}: GET http://${e.h1}/ answered ${r.stdout} ${r.stderr}`);
    }

    // RSS with N meshed idle pods, on the fresh agent (before any traffic: load grows the heap).
    const rssBeforeIdle = rssKiB(agentPid);
    for (let i = 0; i < options.idlePods; i += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, options.idlePods - i) }, (_, k) => node.addPod({ name: `idle-${String(i + k).padStart(3, '0')}`, namespace: 'bench-idle' })),
      );
      for (const pod of batch) pod.spawn('sleep', ['infinity'], { stdio: 'ignore' });
      meshedPods.push(...batch);
    }
    writeInventory();
    await agent.waitMeshed(1 + options.idlePods, 60_000);
    await sleep(2000);
    const rssIdle = rssKiB(agentPid);

    say(`· ${options.idlePods} more idle pods meshed: agent RSS ${(rssIdle / 1024).toFixed(1)} MiB (was ${(rssBeforeIdle / 1024).toFixed(1)})`);

    // Throughput: rounds × workloads × targets, target order rotated each round.
    const throughput = new Map<string, number[]>();
    const errors = new Map<string, number>();
    const proxyCpu = new Map<string, number[]>(); // CPU seconds per second per 1k req/s, h1-c32
    const pids: Partial<Record<Target, number>> = { weft: agentPid, ...(haproxy.pid === undefined ? {} : { haproxy: haproxy.pid }) };
    for (let round = 0; round < options.rounds; round++) {
      say(`· round ${round + 1}/${options.rounds}: throughput`);
      for (const w of WORKLOADS) {
        const order = TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length] as Target);
        for (const target of order) {
          const pid = pids[target];
          const ticks0 = pid === undefined ? 0 : cpuTicks(pid);
          const t0 = performance.now();
          const r = await runWorkload(w, endpoints[target], options.seconds);
          const elapsed = (performance.now() - t0) / 1000;
          const key = `${w}/${target}`;
          throughput.set(key, [...(throughput.get(key) ?? []), r.value]);
          errors.set(key, (errors.get(key) ?? 0) + r.errors);
          if (pid !== undefined && w === 'h1-c32') {
            const cpuSeconds = (cpuTicks(pid) - ticks0) / CLK_TCK;
            proxyCpu.set(target, [...(proxyCpu.get(target) ?? []), cpuSeconds / elapsed / (r.value / 1000)]);
          }
        }
      }
    }
    const rssAfterThroughput = rssKiB(agentPid);
    const hwm = rssKiB(agentPid, 'VmHWM');

    // Latency: open loop at 25/50/75 % of haproxy's h1-c32 maximum.
    const haproxyMax = median(throughput.get('h1-c32/haproxy') ?? []);
    const weftMax = median(throughput.get('h1-c32/weft') ?? []);
    // The three points (25/50/75 % of haproxy's maximum), and one at 25 % of weft's own
    // maximum, so there is an "added latency" figure below saturation even when weft is slower.
    const points = [
      { key: 'haproxy-25', fraction: 0.25, of: 'haproxy', rate: Math.round(0.25 * haproxyMax) },
      { key: 'haproxy-50', fraction: 0.5, of: 'haproxy', rate: Math.round(0.5 * haproxyMax) },
      { key: 'haproxy-75', fraction: 0.75, of: 'haproxy', rate: Math.round(0.75 * haproxyMax) },
      { key: 'weft-25', fraction: 0.25, of: 'weft', rate: Math.round(0.25 * weftMax) },
    ] as const;
    const latency = new Map<string, BenchOpenLoopResult[]>();
    for (let round = 0; round < options.rounds; round++) {
      say(`· round ${round + 1}/${options.rounds}: open-loop latency at ${points.map((p) => p.rate).join(', ')} req/s`);
      for (const { key: f, rate } of points) {
        const order = TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length] as Target);
        for (const target of order) {
          const e = endpoints[target];
          const [host, port] = e.h1.split(':') as [string, string];
          const out = await runIn(e.pod, NODE, [join(root, 'scripts/bench/open-loop.ts'), host, port, String(rate), String(options.seconds), '32'], options.seconds * 1000 + 30_000);
          const key = `${f}/${target}`;
          latency.set(key, [...(latency.get(key) ?? []), JSON.parse(out.trim().split('\n').pop() ?? '{}') as BenchOpenLoopResult]);
        }
      }
    }

    // Resources at a fixed rate (autocannon -R): CPU per 1k req/s.
    say('· resources: CPU at a fixed rate, memory per connection, idle pods');
    // A rate both can carry (below weft's maximum too), so neither figure is taken at saturation.
    const fixedRate = Math.round(Math.min(0.25 * haproxyMax, 0.5 * weftMax));
    const fixedCpu: Partial<Record<Target, number>> = {};
    for (const target of ['haproxy', 'weft'] as const) {
      const pid = pids[target];
      if (pid === undefined) continue;
      const ticks0 = cpuTicks(pid);
      const t0 = performance.now();
      const out = await runIn(endpoints[target].pod, NODE, [join(root, 'node_modules/autocannon/autocannon.js'), '-j', '-c', '32', '-d', String(options.seconds), '-R', String(fixedRate), `http://${endpoints[target].h1}/`], options.seconds * 1000 + 30_000);
      const elapsed = (performance.now() - t0) / 1000;
      const r = JSON.parse(out) as { requests: { total: number } };
      const rps = r.requests.total / options.seconds;
      fixedCpu[target] = (cpuTicks(pid) - ticks0) / CLK_TCK / elapsed / (rps / 1000);
    }

    // Memory per open connection: 1000 idle keep-alive connections (each carried one request).
    const perConnection: Partial<Record<Target, number>> = {};
    const connectionRss: Partial<Record<Target, { opened: number; rssBeforeKiB: number; rssHoldingKiB: number }>> = {};
    for (const target of ['haproxy', 'weft'] as const) {
      const pid = pids[target];
      if (pid === undefined) continue;
      const before = rssKiB(pid);
      const e = endpoints[target];
      const [host, port] = e.h1.split(':') as [string, string];
      const holder = e.pod.spawn('taskset', ['-c', LOAD_CPU, NODE, join(root, 'scripts/bench/idle-connections.ts'), host, port, String(IDLE_CONNECTIONS)], { stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      holder.stdout?.on('data', (c: Buffer) => (text += c.toString()));
      const deadline = Date.now() + 20_000;
      while (!/open \d+/.test(text) && Date.now() < deadline && holder.exitCode === null) await sleep(100);
      await sleep(1000);
      const opened = Number(/open (\d+)/.exec(text)?.[1] ?? 0);
      const holding = rssKiB(pid);
      perConnection[target] = opened > 0 ? ((holding - before) * 1024) / opened : Number.NaN;
      connectionRss[target] = { opened, rssBeforeKiB: before, rssHoldingKiB: holding };
      holder.stdin?.end();
      await Promise.race([once(holder, 'exit'), sleep(5000)]);
      await sleep(500);
    }

    // ---- report ----
    const rows: Array<Record<string, unknown>> = [];
    const lines: string[] = [];
    const fmt = (v: number, unit: string): string => (unit === 'Gbit/s' ? v.toFixed(2) : Math.round(v).toString());
    lines.push('', `throughput (median of ${options.rounds} rounds; ratios are medians of per-round ratios)`);
    lines.push(`${'workload'.padEnd(12)} ${'unit'.padEnd(8)} ${'direct'.padStart(9)} ${'haproxy'.padStart(9)} ${'weft'.padStart(9)}  weft/haproxy  weft/direct  errors(d/h/w)`);
    for (const w of WORKLOADS) {
      const v = (t: Target): number[] => throughput.get(`${w}/${t}`) ?? [];
      const row = {
        workload: w, unit: UNITS[w],
        direct: median(v('direct')), haproxy: median(v('haproxy')), weft: median(v('weft')),
        weftOverHaproxy: medianRatio(v('weft'), v('haproxy')), weftOverDirect: medianRatio(v('weft'), v('direct')),
        haproxyOverDirect: medianRatio(v('haproxy'), v('direct')),
        rounds: { direct: v('direct'), haproxy: v('haproxy'), weft: v('weft') },
        errors: { direct: errors.get(`${w}/direct`) ?? 0, haproxy: errors.get(`${w}/haproxy`) ?? 0, weft: errors.get(`${w}/weft`) ?? 0 },
      };
      rows.push(row);
      lines.push(`${w.padEnd(12)} ${UNITS[w].padEnd(8)} ${fmt(row.direct, UNITS[w]).padStart(9)} ${fmt(row.haproxy, UNITS[w]).padStart(9)} ${fmt(row.weft, UNITS[w]).padStart(9)}  ${row.weftOverHaproxy.toFixed(2).padStart(11)}×  ${row.weftOverDirect.toFixed(2).padStart(10)}×  ${row.errors.direct}/${row.errors.haproxy}/${row.errors.weft}`);
    }

    const latencyRows: Array<Record<string, unknown>> = [];
    const panels = [];
    lines.push('', 'open-loop latency, HTTP/1.1, 32 connections, µs from intended send time (CO-corrected); added = median over rounds of per-round differences');
    lines.push(`${'rate'.padStart(7)} ${'target'.padEnd(8)} ${'achieved'.padStart(8)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'p99.9'.padStart(8)}   added over direct (p50/p99/p99.9)   added over haproxy`);
    for (const { key: f, fraction, of, rate } of points) {
      const series = [];
      const per = (t: Target, p: number): number[] => (latency.get(`${f}/${t}`) ?? []).map((r) => Histogram.fromJSON(r.corrected).percentile(p));
      for (const target of TARGETS) {
        const runs = latency.get(`${f}/${target}`) ?? [];
        const merged = new Histogram();
        for (const r of runs) merged.merge(Histogram.fromJSON(r.corrected));
        series.push({ label: target, histogram: merged });
        const ps = [50, 99, 99.9].map((p) => median(per(target, p)));
        const overDirect = [50, 99, 99.9].map((p) => medianDifference(per(target, p), per('direct', p)));
        const overHaproxy = [50, 99, 99.9].map((p) => medianDifference(per(target, p), per('haproxy', p)));
        const achieved = median(runs.map((r) => r.achievedRps));
        latencyRows.push({ point: f, fraction, of, rate, target, achievedRps: achieved, p50: ps[0], p99: ps[1], p999: ps[2], addedOverDirect: overDirect, addedOverHaproxy: overHaproxy, errors: runs.reduce((n, r) => n + r.errors, 0), service: runs.map((r) => ({ p50: Histogram.fromJSON(r.service).percentile(50), p99: Histogram.fromJSON(r.service).percentile(99) })) });
        const n = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : Math.round(v).toString());
        lines.push(`${String(rate).padStart(7)} ${target.padEnd(8)} ${n(achieved).padStart(8)} ${n(ps[0]).padStart(7)} ${n(ps[1]).padStart(7)} ${n(ps[2]).padStart(8)}   ${overDirect.map(n).join('/').padEnd(34)} ${overHaproxy.map(n).join('/')}`);
      }
      panels.push({ title: `${Math.round(fraction * 100)} % of ${of} max (${rate} req/s)`, series });
    }

    const resources = {
      agentRssAtStartMiB: rssAtStart / 1024,
      agentRssAfterThroughputMiB: rssAfterThroughput / 1024,
      agentRssBeforeIdlePodsMiB: rssBeforeIdle / 1024,
      agentRssWithIdlePodsMiB: rssIdle / 1024,
      agentPeakRssMiB: hwm / 1024,
      idlePods: options.idlePods,
      cpuSecondsPerSecondPer1kRpsAtMax: { weft: median(proxyCpu.get('weft') ?? []), haproxy: median(proxyCpu.get('haproxy') ?? []) },
      cpuSecondsPerSecondPer1kRpsFixedRate: { rate: fixedRate, ...fixedCpu },
      bytesPerOpenConnection: perConnection,
      openConnections: connectionRss,
    };
    lines.push('', 'resources');
    lines.push(`agent RSS: ${resources.agentRssAtStartMiB.toFixed(1)} MiB at start (1 meshed pod), ${resources.agentRssWithIdlePodsMiB.toFixed(1)} with ${options.idlePods} more meshed idle pods (was ${resources.agentRssBeforeIdlePodsMiB.toFixed(1)}), ${resources.agentRssAfterThroughputMiB.toFixed(1)} after the throughput rounds, peak ${resources.agentPeakRssMiB.toFixed(1)} (then)`);
    const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${(v * 1000).toFixed(1)} ms`);
    lines.push(`CPU per 1k req/s (h1, 32 conns): weft ${ms(resources.cpuSecondsPerSecondPer1kRpsAtMax.weft)}, haproxy ${ms(resources.cpuSecondsPerSecondPer1kRpsAtMax.haproxy)} of CPU per second at max; at a fixed ${fixedRate} req/s (autocannon): weft ${ms(fixedCpu.weft)}, haproxy ${ms(fixedCpu.haproxy)}`);
    const kb = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${(v / 1024).toFixed(1)} KiB`);
    lines.push(`memory per open connection (${IDLE_CONNECTIONS} idle keep-alive, client + upstream side): weft ${kb(perConnection.weft)}, haproxy ${kb(perConnection.haproxy)}`);

    const h1 = rows.find((r) => r.workload === 'h1-c32');
    const tcp = rows.find((r) => r.workload === 'tcp-bulk');
    const added50 = latencyRows.filter((r) => r.target === 'weft').map((r) => `${Math.round((r.addedOverDirect as number[])[0] ?? Number.NaN)} µs at ${String(r.rate)} req/s`);
    lines.push('', 'targets (reported, not asserted)');
    lines.push(`HTTP/1.1 throughput ≥ 1.0× haproxy: ${(h1?.weftOverHaproxy as number).toFixed(2)}× (32 conns), ${(rows.find((r) => r.workload === 'h1-c1')?.weftOverHaproxy as number).toFixed(2)}× (1 conn)`);
    lines.push(`added p50 ≤ 50 µs (over direct; 25/50/75 % of haproxy's max, 25 % of weft's): ${added50.join(', ')}`);
    lines.push(`opaque TCP ≥ 0.9× direct: ${(tcp?.weftOverDirect as number).toFixed(2)}×`);
    lines.push(`RSS ≤ 60 MB with ${options.idlePods} idle pods: ${((rssIdle * 1024) / 1e6).toFixed(1)} MB`);
    for (const line of lines) say(line);

    const svgPath = join(outDir, 'latency.svg');
    writeFileSync(svgPath, latencySvg(panels, `weft bench ${stamp} — HTTP/1.1 open loop, 32 connections, ${options.rounds}×${options.seconds} s per point`));
    const jsonPath = join(outDir, 'results.json');
    writeFileSync(jsonPath, `${JSON.stringify({
      started: started.toISOString(), options, machine: machineFacts(), background,
      backgroundAtEnd: { busyPercentPerCpu: await backgroundBusy(1000), loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number) },
      pinning: { loadGeneratorAndServers: Number(LOAD_CPU), proxyUnderTest: Number(PROXY_CPU) },
      throughput: rows, latency: latencyRows,
      latencyHistograms: Object.fromEntries([...latency].map(([k, runs]) => [k, runs.map((r) => r.corrected)])),
      resources,
    }, null, 2)}\n`);
    await agent.stop();
    say('');
    say(`results: ${jsonPath}`);
    say(`latency picture: ${svgPath}`);
    if (options.profile) {
      const prof = readdirSync(outDir).filter((f) => f.endsWith('.cpuprofile'));
      say(prof.length > 0 ? `agent CPU profile: ${join(outDir, prof[0] ?? '')} (open in https://www.speedscope.app or Chrome DevTools → Performance)` : '! no CPU profile was written (did the agent exit cleanly?)');
    }
  } catch (error) {
    if (agent !== undefined) say(`agent output (tail):\n${agent.output.slice(-3000)}`);
    throw error;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

await main();
