// Issue: the status page end to end — the real agent with real pods (netns + veth + cgroup) and the
// real BPF programs, HTTP traffic from a meshed client pod to a Service (some of it failing), then
// Debian's Chromium (driven by playwright-core; nothing downloads a browser) loads the admin page
// `/` and a person would see: the meshed pod, the route with a success rate, its endpoints and
// their breaker state, and the latest failures with their reasons. A full-page screenshot is taken
// and checked to be a PNG with real content (decoded here: many colours, a fair share of non-white).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import type { LabNode } from '../../../agent/lab/node.ts';
import type { LabPod } from '../../../agent/lab/pod.ts';
import type { AgentProcess } from '../../support/agent-process.ts';
import { LabAgent, serviceObjects } from '../../support/lab-agent.ts';
import { labSkip, whyNoLab, withLab } from '../../support/lab.ts';

const VIP = '198.19.255.40';
const PORT = 8080;

// A server pod: `?status=N` sets the status, `?delay=ms` waits first.
const SERVER = `
const http = require('node:http');
http.createServer((q, s) => {
  q.resume();
  q.on('end', () => {
    const u = new URL(q.url, 'http://x');
    const answer = () => { s.writeHead(Number(u.searchParams.get('status') ?? 200), { 'content-type': 'text/plain' }); s.end(process.env.POD + '\\n'); };
    const delay = Number(u.searchParams.get('delay') ?? 0);
    if (delay > 0) setTimeout(answer, delay); else answer();
  });
}).listen(${PORT}, () => process.stdout.write('ready\\n'));
`;

/** Debian's chromium binary (the /usr/bin/chromium wrapper script also works, but adds noise). */
function chromiumPath(): string | undefined {
  for (const path of ['/usr/lib/chromium/chromium', '/usr/bin/chromium']) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  return undefined;
}

interface Png {
  readonly width: number;
  readonly height: number;
  /** RGB of pixel (x, y). */
  pixel(x: number, y: number): [number, number, number];
}

/** A minimal PNG decoder for what Chromium writes: 8-bit RGB or RGBA, not interlaced. */
function decodePng(file: Buffer): Png {
  assert.deepEqual([...file.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < file.length) {
    const length = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    const data = file.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      assert.ok(data[9] === 2 || data[9] === 6, `colour type ${data[9]}`);
      assert.equal(data[12], 0, 'not interlaced');
      channels = data[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i] ?? 0;
      const a = i >= channels ? (pixels[y * stride + i - channels] ?? 0) : 0;
      const b = y > 0 ? (pixels[(y - 1) * stride + i] ?? 0) : 0;
      const c = y > 0 && i >= channels ? (pixels[(y - 1) * stride + i - channels] ?? 0) : 0;
      let value: number;
      switch (filter) {
        case 0: value = x; break;
        case 1: value = x + a; break;
        case 2: value = x + b; break;
        case 3: value = x + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          value = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: throw new Error(`PNG filter ${filter}`);
      }
      pixels[y * stride + i] = value & 0xff;
    }
  }
  return {
    width,
    height,
    pixel: (x, y) => {
      const at = y * stride + x * channels;
      return [pixels[at] ?? 0, pixels[at + 1] ?? 0, pixels[at + 2] ?? 0];
    },
  };
}

describe('status page in a browser, end to end', { skip: labSkip('status page e2e', chromiumPath() === undefined ? 'needs chromium (Debian package chromium; scripts/setup.sh installs it)' : undefined) }, () => {
  const files = mkdtempSync(join(tmpdir(), 'weft-e2e-status-page-'));
  // Kept where WEFT_TEST_SCREENSHOT_DIR says (to look at it), else removed with the other files.
  const keep = process.env['WEFT_TEST_SCREENSHOT_DIR'];
  const screenshot = join(keep === undefined || keep === '' ? files : keep, `weft-status-page-${process.pid}.png`);
  let node: LabNode;
  let client: LabPod;
  let webs: LabPod[];
  let servers: ChildProcess[] = [];
  let labAgent: LabAgent | undefined;
  let agent: AgentProcess | undefined;
  let browser: Browser | undefined;

  const lab = whyNoLab() === undefined ? withLab({ after }) : undefined;

  const curl = async (path: string, headers: string[] = []): Promise<number> => {
    const r = await client.run('curl', ['-sS', '-o', '/dev/null', '--max-time', '10', '-w', '%{http_code}', ...headers.flatMap((h) => ['-H', h]), `http://${VIP}${path}`], { timeoutMs: 15_000 });
    return Number(r.stdout.trim());
  };

  before(async () => {
    assert.ok(lab !== undefined);
    node = await lab.addNode({ name: 'n1' });
    client = await node.addPod({ name: 'client', namespace: 'shop' });
    webs = [await node.addPod({ name: 'web-1', namespace: 'shop' }), await node.addPod({ name: 'web-2', namespace: 'shop' })];
    servers = webs.map((w) => w.spawn(process.execPath, ['-e', SERVER], { env: { ...process.env, POD: w.name }, stdio: ['ignore', 'pipe', 'inherit'] }));
    await Promise.all(servers.map((child) => new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
    })));
    // A pod is meshed once a process runs in it: the client's curl runs later, so keep one there.
    servers.push(client.spawn('sleep', ['3600'], { stdio: 'ignore' }));
    labAgent = await LabAgent.start({
      node,
      pods: [client, ...webs],
      discovery: serviceObjects('shop', 'web', VIP, [{ name: 'http', port: 80, targetPort: PORT }], webs),
      // A tight latency objective for this route, so the page shows a configured one.
      config: { telemetry: { slo: { routes: { 'shop/web:http': { latency: { thresholdMs: 250 } } } } } },
    });
    agent = labAgent.agent;

    // Traffic: 20 good requests, one the upstream fails (503, retried once, still 503) and one
    // past its deadline (weft answers 504).
    for (let i = 0; i < 20; i++) assert.equal(await curl(`/ok/${i}`), 200);
    assert.equal(await curl('/broken?status=503'), 503);
    assert.equal(await curl('/slow?delay=2000', ['weft-deadline: 300']), 504);

    browser = await chromium.launch({
      executablePath: chromiumPath() ?? '',
      // Root in a container: no user namespaces for the sandbox; no GPU; /dev/shm may be small.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      timeout: 60_000,
    });
  });

  after(async () => {
    await browser?.close();
    await labAgent?.stop();
    for (const child of servers) child.kill();
    rmSync(files, { recursive: true, force: true });
  });

  it('shows the meshed pod, the route with its success rate, its endpoints and the failures with their reasons; the screenshot has real content', async () => {
    assert.ok(browser !== undefined && agent !== undefined);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const response = await page.goto(`${agent.adminUrl}/?refresh=0`);
    assert.equal(response?.status(), 200);
    assert.match(response.headers()['content-type'] ?? '', /^text\/html/);
    assert.match(await page.title(), /^weft n1/);

    const pods = await page.locator('#pods').innerText();
    assert.match(pods, /shop\/client\s+meshed/, pods);

    const route = await page.locator('#routes tr', { hasText: 'shop/web:http' }).innerText();
    // 20 of 22 requests succeeded: 90.9 %.
    assert.match(route, /shop\/web:http[\s\S]*\b90\.9 %/, route);
    assert.match(route, /99\.9 % ok; 99 % ≤ 250 ms/, `the configured objective: ${route}`);

    const endpoints = await page.locator('#endpoints').innerText();
    for (const web of webs) assert.match(endpoints, new RegExp(`${web.ip.replaceAll('.', '\\.')}:${PORT}\\s+(closed|open|half-open)`), endpoints);

    const failures = await page.locator('#failures').innerText();
    assert.match(failures, /shop\/web:http\s+shop\/client\s+503\s+upstream answered HTTP 503/, failures);
    // weft's own answer, with the error's message: what passed, and the code as in l5d-proxy-error.
    assert.match(failures, /504\s+deadline exceeded: .+ \(WEFT_E_RESILIENCE_DEADLINE_EXCEEDED, weft answered 504\)/, failures);

    const tiles = await page.locator('.tiles').innerText();
    assert.match(tiles, /3\s+MESHED PODS/i, tiles);

    await page.screenshot({ path: screenshot, fullPage: true });
    const file = readFileSync(screenshot);
    assert.ok(file.length > 20_000, `screenshot is ${file.length} bytes`);
    const png = decodePng(file);
    assert.ok(png.width >= 1400 && png.height >= 600, `${png.width}x${png.height}`);
    // Sample a grid: a blank or one-colour page has one or two colours and no dark text.
    const colours = new Set<string>();
    let nonWhite = 0;
    let samples = 0;
    for (let y = 0; y < png.height; y += 4) {
      for (let x = 0; x < png.width; x += 4) {
        const [r, g, b] = png.pixel(x, y);
        colours.add(`${r >> 3},${g >> 3},${b >> 3}`);
        if (r + g + b < 700) nonWhite += 1;
        samples += 1;
      }
    }
    assert.ok(colours.size > 30, `only ${colours.size} colours in the screenshot`);
    assert.ok(nonWhite / samples > 0.03, `only ${(100 * nonWhite / samples).toFixed(1)} % of the screenshot is not white`);
    console.log(`status page screenshot: ${screenshot} (${png.width}x${png.height}, ${file.length} bytes, ${colours.size} colours)`);
    await page.close();
  });

  it('weft status prints the same at a terminal: routes, endpoints with breaker state, the latest failures', () => {
    assert.ok(agent !== undefined);
    const cli = spawnSync(process.execPath, [fileURLToPath(new URL('../../../agent/cli/main.ts', import.meta.url)), 'status', '--admin', new URL(agent.adminUrl).host], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(cli.status, 0, cli.stderr);
    const text = cli.stdout;
    assert.match(text, /pods: 3 known, 3 meshed/, text);
    assert.match(text, /\n {2}shop\/web:http +90\.9 % +22 +\S+ ms +\S+ ms +0 +90\.9\/90\.9 BURNING/, text);
    for (const web of webs) assert.match(text, new RegExp(`shop/web:http +${web.ip.replaceAll('.', '\\.')}:${PORT} +closed`), text);
    assert.match(text, /latest failures \(2 since start\):/, text);
    assert.match(text, /shop\/client +503 +upstream answered HTTP 503/, text);
  });

  it('agrees with /status and /metrics: the route’s SLO windows and burn rates', async () => {
    assert.ok(agent !== undefined);
    const s = await agent.status<{ routes: Array<{ name: string; slo: { windows: Record<string, { requests: number; failures: number; burnRate: { success: number } }> } | null }> }>();
    const slo = s.routes.find((r) => r.name === 'shop/web:http')?.slo;
    assert.ok(slo !== null && slo !== undefined);
    assert.equal(slo.windows['5m']?.requests, 22);
    assert.equal(slo.windows['5m']?.failures, 2);
    assert.ok(Math.abs((slo.windows['1h']?.burnRate.success ?? 0) - (2 / 22) / 0.001) < 1e-6);
    const metrics = await (await fetch(`${agent.adminUrl}/metrics`)).text();
    assert.match(metrics, /weft_slo_burn_rate\{authority="shop\/web:http",objective="success",window="5m"\} 90\.9090/);
    assert.match(metrics, /weft_slo_objective\{authority="shop\/web:http",objective="success"\} 0\.999/);
  });
});
