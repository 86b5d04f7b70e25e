// Tap end to end on one host: requests through the live route stack (real sockets), the admin
// server's GET /tap, and `weft tap` (the CLI's main) printing one line per matching request with
// its upstream endpoint and trace id; a bad filter is a usage error with the reason.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { AdminServer } from '../../../agent/admin/server.ts';
import { tapHandler } from '../../../agent/admin/tap.ts';
import { main } from '../../../agent/cli/main.ts';
import { responseChannel } from '../../../agent/telemetry/tap.ts';
import { Cleanups, ok, send, waitFor } from '../proxy/outbound/harness.ts';

const cleanups = new Cleanups();
afterEach(() => cleanups.close());

async function admin(): Promise<string> {
  const server = new AdminServer({ address: '127.0.0.1', port: 0, provider: { status: () => ({}), readiness: () => ({ ready: true, reasons: [] }) } });
  server.router.get('/tap', tapHandler());
  const bound = await server.listen();
  cleanups.add(() => server.close());
  return `127.0.0.1:${bound.port}`;
}

describe('weft tap through the route stack', () => {
  it('prints one line per matching request: source, authority, method, path, status, duration, upstream and trace id; ends after --max', async () => {
    const good = await cleanups.upstream(ok(200));
    const bad = await cleanups.upstream(ok(503, 'down'));
    const p = await cleanups.proxy([good]);
    const q = await cleanups.proxy([bad]);
    const target = await admin();
    const out: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void out.push(`ERR ${t}`) };
    const tapped = main(['tap', '--admin', target, '--status', '5xx', '--method', 'POST', '--max', '2'], io, {});
    await waitFor(() => responseChannel.hasSubscribers, 'the tap to subscribe');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await send(p.port, { headers: { host: 'svc.default' } });
    await send(q.port, { method: 'GET', headers: { host: 'svc.default' } });
    for (let i = 0; i < 3; i++) {
      await send(q.port, { method: 'POST', path: `/orders/${i}`, headers: { host: 'svc.default', traceparent: `00-${traceId}-00f067aa0ba902b7-01` }, body: 'x' });
    }
    assert.equal(await tapped, 0, out.join(''));
    const lines = out.join('').trimEnd().split('\n');
    assert.equal(lines.length, 2, out.join(''));
    for (const [i, line] of lines.entries()) {
      assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+ default/client-0 → svc\\.default \\(svc\\.default:80\\) POST /orders/${i} 503 [0-9.]+ms upstream=127\\.0\\.0\\.1:${bad.port} trace=${traceId}$`));
    }
    assert.equal(responseChannel.hasSubscribers, false, 'the tap let go');
  });

  it('--json prints the agent\'s lines as they come', async () => {
    const u = await cleanups.upstream(ok(200));
    const p = await cleanups.proxy([u]);
    const target = await admin();
    const out: string[] = [];
    const tapped = main(['tap', '--admin', target, '--path', '/x', '--max', '1', '--json'], { stdout: (t) => void out.push(t), stderr: (t) => void out.push(t) }, {});
    await waitFor(() => responseChannel.hasSubscribers, 'the tap to subscribe');
    await send(p.port, { path: '/y', headers: { host: 'svc.default' } });
    await send(p.port, { path: '/x/1', headers: { host: 'svc.default', b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' } });
    assert.equal(await tapped, 0);
    const event = JSON.parse(out.join('')) as Record<string, unknown>;
    assert.equal(event['path'], '/x/1');
    assert.equal(event['status'], 200);
    assert.equal(event['route'], 'svc.default:80');
    assert.equal(event['traceId'], '80f198ee56343ba864fe8b2a57d3eff7');
    assert.equal(event['upstream'], `127.0.0.1:${u.port}`);
  });

  it('a bad filter is a usage error (exit 1) with the agent\'s reason', async () => {
    const target = await admin();
    const out: string[] = [];
    const code = await main(['tap', '--admin', target, '--status', '7xx'], { stdout: (t) => void out.push(t), stderr: (t) => void out.push(t) }, {});
    assert.equal(code, 1);
    assert.match(out.join(''), /^weft: status must be a code \(503\) or a class \(5xx\), got "7xx"\n$/);
  });
});
