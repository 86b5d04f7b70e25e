import assert from 'node:assert/strict';
import { release } from 'node:os';
import { describe, it } from 'node:test';
import { cachedHostFacts, collectHostFacts, hostFacts } from '../../../agent/host/facts.ts';
import type { HostFactSource } from '../../../agent/host/facts.ts';

const source: HostFactSource = {
  osInfo: () => Promise.resolve({ distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0-18-amd64', hostname: 'node-1' }),
  cpu: () => Promise.resolve({ cores: 8, physicalCores: 4, manufacturer: 'AMD', brand: 'EPYC 7B13' }),
  mem: () => Promise.resolve({ total: 32 * 2 ** 30 }),
};

describe('host facts', () => {
  it('gathers OS, CPU, memory, Node and kernel release', async () => {
    const facts = await collectHostFacts(source);
    assert.deepEqual(facts, {
      hostname: 'node-1',
      os: { distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0-18-amd64' },
      cpu: { cores: 8, physicalCores: 4, model: 'AMD EPYC 7B13' },
      memory: { totalBytes: 32 * 2 ** 30 },
      node: process.version,
      osRelease: release(),
      unknown: {},
    });
  });

  it('a group that fails is unknown, with the reason, and the others are kept', async () => {
    const facts = await collectHostFacts({ ...source, cpu: () => Promise.reject(new Error('lscpu: not found')) });
    assert.deepEqual(facts.cpu, { cores: 'unknown', physicalCores: 'unknown', model: 'unknown' });
    assert.deepEqual(facts.unknown, { cpu: 'lscpu: not found' });
    assert.equal(facts.os.distro, 'Debian GNU/Linux');
  });

  it('a group that throws synchronously or hangs is unknown too, and never blocks the rest', async () => {
    const facts = await collectHostFacts(
      {
        ...source,
        osInfo: () => {
          throw new Error('boom');
        },
        mem: () => new Promise(() => undefined),
      },
      50,
    );
    assert.equal(facts.os.kernel, 'unknown');
    assert.equal(facts.memory.totalBytes, 'unknown');
    assert.deepEqual(Object.keys(facts.unknown).sort(), ['memory', 'os']);
    assert.match(facts.unknown.memory ?? '', /longer than 50 ms/);
    assert.equal(facts.cpu.cores, 8);
  });

  it('empty strings and zeros (systeminformation\'s "could not read") are unknown', async () => {
    const facts = await collectHostFacts({
      osInfo: () => Promise.resolve({ distro: '', release: ' ', kernel: '', hostname: '' }),
      cpu: () => Promise.resolve({ cores: 0, physicalCores: Number.NaN, manufacturer: '', brand: '' }),
      mem: () => Promise.resolve({ total: 0 }),
    });
    assert.deepEqual(facts.os, { distro: 'unknown', release: 'unknown', kernel: 'unknown' });
    assert.deepEqual(facts.cpu, { cores: 'unknown', physicalCores: 'unknown', model: 'unknown' });
    assert.equal(facts.memory.totalBytes, 'unknown');
    assert.deepEqual(facts.unknown, {});
  });

  it('reads this host through systeminformation, once', async () => {
    assert.equal(cachedHostFacts(), undefined);
    const first = hostFacts();
    assert.equal(hostFacts(), first, 'one collection per process');
    const facts = await first;
    assert.equal(cachedHostFacts(), facts);
    assert.equal(facts.os.kernel, release());
    assert.equal(typeof facts.cpu.cores, 'number');
    assert.equal(typeof facts.memory.totalBytes, 'number');
  });
});
