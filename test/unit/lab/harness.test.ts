import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Ledger, recordPid, recordPin, runLedger } from '../../support/ledger.ts';
import { freePort, getJson } from '../../support/net.ts';
import { requireRoot } from '../../support/lab.ts';
import { labPrefix, runPrefix } from '../../support/run.ts';
import { randomHex } from '../../../agent/lab/names.ts';
import { waitFor } from '../../support/wait.ts';

describe('test run prefix', () => {
  it('is shared through WEFT_TEST_RUN, and each lab gets its own prefix inside it', () => {
    const run = runPrefix();
    assert.equal(process.env['WEFT_TEST_RUN'], run);
    assert.match(run, /^weft-/);
    const a = labPrefix();
    assert.ok(a.startsWith(`${run}-`));
    assert.notEqual(labPrefix(), a);
  });
});

describe('ledger', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-ledger-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('appends records and reads back its own and its sub-runs’ records, skipping torn lines', () => {
    const ledger = new Ledger('weft-tunit01', dir);
    ledger.record({ kind: 'netns', name: 'weft-tunit01-a-node' });
    ledger.record({ kind: 'pid', pid: 1234, startTime: '99' });
    new Ledger('weft-tunit01-c1', dir).record({ kind: 'cgroup', path: '/sys/fs/cgroup/weft-tunit01-c1-x' });
    new Ledger('weft-tunit012', dir).record({ kind: 'netns', name: 'not-ours' });
    appendFileSync(ledger.path, '{"kind":"netns","na'); // a crash mid-write
    assert.deepEqual(ledger.entries(), [
      { kind: 'netns', name: 'weft-tunit01-a-node' },
      { kind: 'pid', pid: 1234, startTime: '99' },
      { kind: 'cgroup', path: '/sys/fs/cgroup/weft-tunit01-c1-x' },
    ]);
    ledger.remove();
    assert.deepEqual(ledger.entries(), []);
    assert.equal(new Ledger('weft-tunit012', dir).entries().length, 1, 'another run’s ledger stays');
  });

  it('recordPid and recordPin put the process (with its start time) and the pin in the run ledger', (t) => {
    if (!requireRoot(t)) return; // the run ledger lives in /run
    // A sub-run of its own, so removing its ledger afterwards cannot touch the real run's ledger.
    const saved = process.env['WEFT_TEST_RUN'];
    const sub = `${runPrefix()}-u${randomHex(2)}`;
    process.env['WEFT_TEST_RUN'] = sub;
    try {
      recordPid(process.pid);
      recordPin('/sys/fs/bpf/weft-tunit-pin');
      const ledger = runLedger();
      assert.equal(ledger.prefix, sub);
      const entries = ledger.entries();
      const self = entries.find((r) => r.kind === 'pid' && r.pid === process.pid);
      assert.ok(self !== undefined && self.kind === 'pid' && /^\d+$/.test(self.startTime));
      assert.ok(entries.some((r) => r.kind === 'pin' && r.path === '/sys/fs/bpf/weft-tunit-pin'));
      ledger.remove(); // this test process is no leftover
    } finally {
      if (saved === undefined) delete process.env['WEFT_TEST_RUN'];
      else process.env['WEFT_TEST_RUN'] = saved;
    }
  });

  it('never throws when it cannot write, so a lab step does not fail for it', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    const ledger = new Ledger('weft-tunit02', file);
    assert.doesNotThrow(() => ledger.record({ kind: 'netns', name: 'x' }));
  });
});

describe('waitFor', () => {
  it('returns the first value that is not undefined, null or false', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
    assert.deepEqual(value, { calls: 3 });
  });

  it('retries a probe that throws, and a timeout names the wait and the last error', async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('map entry missing');
        },
        { timeoutMs: 50, intervalMs: 5, what: 'the map entry' },
      ),
      /timed out after 50 ms waiting for the map entry; last error: .*map entry missing/,
    );
  });
});

describe('loopback helpers', () => {
  it('freePort gives a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
  });

  it('getJson parses a JSON body and keeps the status', async () => {
    const server = createServer((_, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"ready":false}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const response = await getJson(`http://127.0.0.1:${port}/ready`);
      assert.equal(response.status, 503);
      assert.deepEqual(response.body, { ready: false });
    } finally {
      server.close();
    }
  });

  it('refuses any address that is not loopback', async () => {
    await assert.rejects(getJson('http://198.51.100.1/status'), /only talk to loopback/);
    await assert.rejects(getJson('http://example.com/status'), /only talk to loopback/);
    await assert.rejects(freePort('0.0.0.0'), /only talk to loopback/);
  });
});
