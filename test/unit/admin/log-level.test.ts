import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { addLogLevelRoutes } from '../../../agent/admin/log-level.ts';
import { AdminServer } from '../../../agent/admin/server.ts';
import { createLogger, isLogLevel, LOG_LEVELS, setLogLevel } from '../../../agent/telemetry/log.ts';

const servers: AdminServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function start(): Promise<{ url: string; out: ReturnType<typeof capture>; log: ReturnType<typeof createLogger> }> {
  const out = capture();
  const log = createLogger('info', out.stream);
  const server = new AdminServer({ address: '127.0.0.1', port: 0, provider: { status: () => ({}), readiness: () => ({ ready: true, reasons: [] }) } });
  servers.push(server);
  addLogLevelRoutes(server.router, { levels: LOG_LEVELS, get: () => log.level, set: (level) => isLogLevel(level) && setLogLevel(log, level) });
  const bound = await server.listen();
  return { url: bound.url, out, log };
}

describe('log level', () => {
  it('setLogLevel reaches children made before the change, and grandchildren', () => {
    const out = capture();
    const root = createLogger('info', out.stream);
    const child = root.child({ area: 'proxy' });
    const grandchild = child.child({ route: 'x' });
    child.debug('hidden');
    setLogLevel(root, 'debug');
    child.debug('shown');
    grandchild.debug('shown too');
    setLogLevel(root, 'warn');
    grandchild.info('hidden again');
    assert.deepEqual(out.lines().map((l) => l['msg']), ['shown', 'shown too']);
  });

  it('GET /log-level answers the level; PUT /log-level with "debug" changes it for every child logger', async () => {
    const { url, out, log } = await start();
    const proxyLog = log.child({ area: 'proxy' });
    assert.deepEqual(await (await fetch(`${url}/log-level`)).json(), { level: 'info' });
    const put = await fetch(`${url}/log-level`, { method: 'PUT', body: 'debug\n' });
    assert.equal(put.status, 200);
    assert.deepEqual(await put.json(), { level: 'debug', previous: 'info' });
    proxyLog.debug('now visible');
    assert.deepEqual(await (await fetch(`${url}/log-level`)).json(), { level: 'debug' });
    assert.ok(out.lines().some((l) => l['msg'] === 'now visible' && l['area'] === 'proxy'));
    const json = await fetch(`${url}/log-level`, { method: 'PUT', body: '{"level":"warn"}' });
    assert.deepEqual(await json.json(), { level: 'warn', previous: 'debug' });
  });

  it('a bad level is a 400 with the reason and the levels, and changes nothing', async () => {
    const { url } = await start();
    for (const body of ['loud', '', '{"level":3}', '{bad json']) {
      const res = await fetch(`${url}/log-level`, { method: 'PUT', body });
      assert.equal(res.status, 400, body);
      const answer = (await res.json()) as { error: string };
      assert.match(answer.error, /send one of fatal, error, warn, info, debug, trace, silent as the body/);
    }
    assert.deepEqual(await (await fetch(`${url}/log-level`)).json(), { level: 'info' });
  });

  it('a body over 8 KiB is a 413; POST is not allowed (405 with Allow)', async () => {
    const { url } = await start();
    assert.equal((await fetch(`${url}/log-level`, { method: 'PUT', body: 'x'.repeat(9000) })).status, 413);
    const post = await fetch(`${url}/log-level`, { method: 'POST', body: 'debug' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD, PUT');
  });

  it('an unknown admin path is a 404 that lists the paths', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/log-levels`);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /no such path: \/log-levels; try .*\/log-level/);
  });
});
