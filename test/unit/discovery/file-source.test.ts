import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { unlinkSync } from 'node:fs';
import { stringify } from 'yaml';
import { DiscoveryFileSource, parseDiscovery } from '../../../agent/discovery/file-source.ts';
import type { DiscoveryParse } from '../../../agent/discovery/file-source.ts';
import { endpointKey } from '../../../agent/discovery/service-table.ts';
import type { DiscoveryTarget, DiscoveryUpdate } from '../../../agent/discovery/types.ts';
import type { FileWatchParams } from '../../../agent/inventory/watched-file.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { waitFor } from '../../support/wait.ts';
import { TempDir } from '../inventory/fixtures.ts';
import { list, serviceObject, sliceObject } from './fixtures.ts';

function failure(result: DiscoveryParse): { code: string; message: string } {
  if (result.kind === 'ok') assert.fail(`expected an error, got ${result.services.length} services`);
  return { code: result.error.code, message: result.error.message };
}

const web = (ip = '10.96.0.10'): Record<string, unknown> => serviceObject('demo', 'web', [ip], [{ name: 'http', port: 80, targetPort: 8080 }]);
const webSlice = (ips: readonly string[], name = 'web-1'): Record<string, unknown> =>
  sliceObject('demo', name, 'web', 'IPv4', ips.map((ip) => ({ ip })), [{ name: 'http', port: 8080 }]);

describe('parseDiscovery', () => {
  it('reads Services and EndpointSlices from one file and ignores Pods (they may share it)', () => {
    const parsed = parseDiscovery('all.yaml', [stringify(web()), stringify({ kind: 'Pod', metadata: { name: 'p' } }), stringify(webSlice(['10.1.0.1']))].join('---\n'));
    assert.equal(parsed.kind, 'ok');
    assert.deepEqual(parsed.kind === 'ok' ? [parsed.services.length, parsed.slices.length] : [], [1, 1]);
  });

  it('a malformed object names the file, the item and the field', () => {
    const e = failure(parseDiscovery('/etc/weft/services.json', list([web(), sliceObject('demo', 'web-1', 'web', 'IPv4', [{ ip: '10.1.0.300' }], [])])));
    assert.equal(e.code, 'WEFT_E_DISCOVERY_FILE_OBJECT');
    assert.match(e.message, /^\/etc\/weft\/services\.json items\[1\]: EndpointSlice demo\/web-1: endpoints\[0\]\.addresses\[0\]: "10\.1\.0\.300" is not an IPv4 address/);
  });

  it('a Service listed twice, two Services on one cluster IP, a slice listed twice: errors naming both places', () => {
    const twice = failure(parseDiscovery('s.json', list([web(), web('10.96.0.11')])));
    assert.equal(twice.code, 'WEFT_E_DISCOVERY_FILE_DUPLICATE');
    assert.match(twice.message, /^s\.json items\[1\]: service demo\/web is listed twice \(first at s\.json items\[0\]\)/);
    const other = serviceObject('demo', 'other', ['10.96.0.10'], [{ port: 80 }]);
    assert.match(failure(parseDiscovery('s.json', list([web(), other]))).message, /cluster IP 10\.96\.0\.10 of service demo\/other is also service demo\/web's/);
    assert.match(failure(parseDiscovery('s.json', list([webSlice([]), webSlice([])]))).message, /endpoint slice demo\/web-1 is listed twice/);
  });
});

describe('DiscoveryFileSource follows the file', () => {
  const dir = new TempDir();
  after(() => dir.remove());
  const params: FileWatchParams = { debounceMs: 20, maxDelayMs: 200, pollMs: 60_000, maxBytes: 1024 * 1024 };
  const byIp: DiscoveryTarget = { kind: 'address', address: '10.96.0.10', port: 80 };
  const byName: DiscoveryTarget = { kind: 'service', service: { namespace: 'demo', name: 'web' }, port: 'http' };

  function open(name: string): { source: DiscoveryFileSource; path: string } {
    const path = dir.file(name);
    const source = new DiscoveryFileSource({ path }, params, { clock: systemClock, wallClock: () => new Date() });
    return { source, path };
  }

  const describeUpdates = (updates: readonly DiscoveryUpdate[]): string[] => updates.map((u) => `${u.kind} ${u.endpoints.map(endpointKey).join(',')}`);

  it('resolves by cluster IP and by name once read; unknown before and for what the file lacks', async () => {
    dir.write('a.json', list([web(), webSlice(['10.1.0.1', '10.1.0.2'])]));
    const { source } = open('a.json');
    assert.equal(source.resolve(byIp).kind, 'unknown');
    source.start();
    try {
      await waitFor(() => source.synced, { what: 'the first read' });
      const answer = source.resolve(byIp);
      assert.deepEqual(answer.kind === 'ok' ? answer.endpoints.map(endpointKey) : answer, ['10.1.0.1:8080', '10.1.0.2:8080']);
      assert.deepEqual(source.resolve(byName), answer);
      const missing = source.resolve({ kind: 'address', address: '10.96.0.99', port: 80 });
      assert.match(missing.kind === 'unknown' ? missing.reason : '', /^no cluster IP 10\.96\.0\.99:80 in .*a\.json$/);
      assert.equal(source.table().byAddress('10.96.0.10', 80)?.portName, 'http');
      assert.deepEqual([source.status().services, source.status().endpointSlices], [1, 1]);
    } finally {
      await source.close();
    }
  });

  it('a watcher gets a reset, then adds before removes as the file changes', async () => {
    dir.write('b.json', list([web(), webSlice(['10.1.0.1', '10.1.0.2'])]));
    const { source } = open('b.json');
    source.start();
    const updates: DiscoveryUpdate[] = [];
    const stop = source.watch(byIp, (u) => updates.push(u));
    try {
      await waitFor(() => updates.length >= 1, { what: 'the reset' });
      assert.deepEqual(describeUpdates(updates), ['reset 10.1.0.1:8080,10.1.0.2:8080']);
      dir.replace('b.json', list([web(), webSlice(['10.1.0.2', '10.1.0.3'])]));
      await waitFor(() => updates.length >= 3, { what: 'the change' });
      assert.deepEqual(describeUpdates(updates.slice(1)), ['add 10.1.0.3:8080', 'remove 10.1.0.1:8080']);
      // A condition change is an add of the same endpoint (the balancer keeps its state and updates it).
      dir.replace('b.json', list([web(), sliceObject('demo', 'web-1', 'web', 'IPv4', [{ ip: '10.1.0.2' }, { ip: '10.1.0.3', ready: true, pod: 'web-c' }], [{ name: 'http', port: 8080 }])]));
      await waitFor(() => updates.length >= 4, { what: 'the condition change' });
      assert.deepEqual(describeUpdates(updates.slice(3)), ['add 10.1.0.3:8080']);
      stop();
      dir.replace('b.json', list([web(), webSlice(['10.1.0.9'])]));
      await waitFor(() => source.resolve(byIp).kind === 'ok' && source.table().byAddress('10.96.0.10', 80)?.endpoints[0]?.address === '10.1.0.9');
      assert.equal(updates.length, 4, 'nothing after unsubscribe');
    } finally {
      await source.close();
    }
  });

  it('a malformed file changes nothing served: error results carry the last good endpoints, watchers hear nothing', async () => {
    dir.write('c.yaml', [stringify(web()), stringify(webSlice(['10.1.0.1']))].join('---\n'));
    const { source, path } = open('c.yaml');
    source.start();
    const updates: DiscoveryUpdate[] = [];
    source.watch(byIp, (u) => updates.push(u));
    try {
      await waitFor(() => updates.length >= 1, { what: 'the reset' });
      dir.replace('c.yaml', [stringify(web()), stringify({ ...webSlice(['10.1.0.1']), addressType: 'IPv5' })].join('---\n'));
      const answer = await waitFor(() => {
        const result = source.resolve(byIp);
        return result.kind === 'error' ? result : undefined;
      }, { what: 'the error result' });
      assert.equal(answer.error.code, 'WEFT_E_DISCOVERY_FILE_OBJECT');
      // The second document starts after the first one's lines and the `---`.
      const line = stringify(web()).split('\n').length + 1;
      assert.match(answer.error.message, new RegExp(`^${path.replaceAll('.', '\\.')} document 2 \\(line ${line}\\): EndpointSlice demo/web-1: addressType: expected IPv4, IPv6 or FQDN`));
      assert.deepEqual(answer.lastGood?.map(endpointKey), ['10.1.0.1:8080']);
      assert.equal(source.status().error?.code, 'WEFT_E_DISCOVERY_FILE_OBJECT');
      assert.equal(source.table().byAddress('10.96.0.10', 80)?.endpoints.length, 1, 'the table in use is the last good one');
      assert.equal(updates.length, 1);

      unlinkSync(path);
      await waitFor(() => source.status().error?.code === 'WEFT_E_DISCOVERY_FILE_MISSING', { what: 'the missing-file error' });
      const gone = source.resolve(byIp);
      assert.deepEqual(gone.kind === 'error' ? gone.lastGood?.map(endpointKey) : gone, ['10.1.0.1:8080']);
      assert.equal(updates.length, 1, 'a vanished file does not empty the balancer');

      dir.replace('c.yaml', list([web(), webSlice(['10.1.0.1', '10.1.0.4'])]));
      await waitFor(() => updates.length >= 2, { what: 'the recovery' });
      assert.deepEqual(describeUpdates(updates.slice(1)), ['add 10.1.0.4:8080']);
      assert.equal(source.resolve(byIp).kind, 'ok');
      assert.equal(source.status().error, undefined);
    } finally {
      await source.close();
    }
  });

  it('reports each bad read to health listeners as it happens, keeping when the failure began, then one recovery after a good read', async () => {
    dir.write('h.yaml', list([web(), webSlice(['10.1.0.1'])]));
    const { source, path } = open('h.yaml');
    const health: string[] = [];
    const since = new Set<string>();
    source.onHealth((h) => {
      health.push(h.kind === 'error' ? `error ${h.error.code}` : 'ok');
      if (h.kind === 'error') since.add(h.since.toISOString());
    });
    let tables = 0;
    source.onTable(() => {
      tables += 1;
      health.push('table');
    });
    source.start();
    try {
      await waitFor(() => tables === 1, { what: 'the first table' });
      assert.deepEqual(health, ['table'], 'no recovery without a failure first');
      dir.replace('h.yaml', '{ not yaml');
      await waitFor(() => health.length >= 2, { what: 'the failure reported' });
      dir.replace('h.yaml', '{ still not yaml');
      await waitFor(() => health.length >= 3, { what: 'the failure reported again' });
      assert.deepEqual(health.slice(1), ['error WEFT_E_DISCOVERY_FILE_SYNTAX', 'error WEFT_E_DISCOVERY_FILE_SYNTAX']);
      assert.equal(since.size, 1, 'failing since the first bad read');
      dir.replace('h.yaml', list([web(), webSlice(['10.1.0.2'])]));
      await waitFor(() => health.at(-1) === 'ok', { what: 'the recovery' });
      assert.deepEqual(health.slice(3), ['table', 'ok'], 'the new table before the recovery');
      assert.ok(path.endsWith('h.yaml'));
    } finally {
      await source.close();
    }
  });

  it('a file that is bad from the start: error without last good, and watchers wait', async () => {
    dir.write('d.json', '{ not json');
    const { source } = open('d.json');
    source.start();
    const updates: DiscoveryUpdate[] = [];
    source.watch(byIp, (u) => updates.push(u));
    try {
      await waitFor(() => source.resolve(byIp).kind === 'error', { what: 'the syntax error' });
      const answer = source.resolve(byIp);
      assert.equal(answer.kind === 'error' ? answer.lastGood : 'x', undefined);
      assert.equal(answer.kind === 'error' ? answer.error.code : '', 'WEFT_E_DISCOVERY_FILE_SYNTAX');
      assert.equal(source.synced, false);
      assert.equal(updates.length, 0);
      dir.replace('d.json', list([web(), webSlice(['10.1.0.1'])]));
      await waitFor(() => updates.length >= 1, { what: 'the reset' });
      assert.deepEqual(describeUpdates(updates), ['reset 10.1.0.1:8080']);
    } finally {
      await source.close();
    }
  });

  it('a Service removed from a good file: its watchers have its endpoints removed, lookups say unknown', async () => {
    dir.write('e.json', list([web(), webSlice(['10.1.0.1'])]));
    const { source } = open('e.json');
    source.start();
    const updates: DiscoveryUpdate[] = [];
    source.watch(byName, (u) => updates.push(u));
    try {
      await waitFor(() => updates.length >= 1, { what: 'the reset' });
      dir.replace('e.json', list([]));
      await waitFor(() => updates.length >= 2, { what: 'the removal' });
      assert.deepEqual(describeUpdates(updates.slice(1)), ['remove 10.1.0.1:8080']);
      assert.equal(source.resolve(byName).kind, 'unknown');
    } finally {
      await source.close();
    }
  });

  it('reads the file the demo writes', async () => {
    const demo = {
      apiVersion: 'v1', kind: 'List', items: [
        { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'demo', name: 'web' }, spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } },
        {
          apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'demo', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4',
          endpoints: [{ addresses: ['10.200.1.2'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'demo', name: 'web' } }],
          ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        },
      ],
    };
    dir.write('services.json', JSON.stringify(demo, null, 2));
    const { source } = open('services.json');
    source.start();
    try {
      await waitFor(() => source.synced);
      const match = source.table().byAddress('10.96.0.10', 80);
      assert.deepEqual(match?.endpoints, [{ address: '10.200.1.2', port: 8080, ready: true, serving: true, terminating: false, podName: 'web', podNamespace: 'demo' }]);
    } finally {
      await source.close();
    }
  });
});
