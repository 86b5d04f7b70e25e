import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileRead, FileWatchParams } from '../../../agent/inventory/watched-file.ts';
import { WatchedFile } from '../../../agent/inventory/watched-file.ts';
import { systemClock } from '../../../agent/time/clock.ts';
import { FakeClock } from '../balance/fake-clock.ts';
import { waitFor } from '../../support/wait.ts';
import { TempDir } from './fixtures.ts';

const texts = (reads: readonly FileRead[]): string[] => reads.map((r) => (r.kind === 'content' ? r.text : r.kind));

describe('WatchedFile', () => {
  const dir = new TempDir();
  after(() => dir.remove());

  it('reads at start, then on directory events; identical content is delivered once', async () => {
    const path = dir.write('a.txt', 'one');
    const reads: FileRead[] = [];
    const file = new WatchedFile(path, { debounceMs: 10, maxDelayMs: 100, pollMs: 60_000, maxBytes: 1024 }, { clock: systemClock, area: 'INVENTORY' }, (r) => reads.push(r));
    file.start();
    try {
      await waitFor(() => reads.length >= 1);
      dir.write('a.txt', 'one');
      dir.replace('a.txt', 'one');
      await sleep(80);
      assert.deepEqual(texts(reads), ['one'], 'the same bytes again are not a change');
      dir.replace('a.txt', 'two');
      await waitFor(() => reads.length >= 2);
      assert.deepEqual(texts(reads), ['one', 'two']);
    } finally {
      file.close();
    }
  });

  it('debounces events: a read waits for quiet, but never longer than maxDelayMs (fake clock, real events)', async () => {
    const path = dir.write('b.txt', 'start');
    const clock = new FakeClock();
    const reads: FileRead[] = [];
    const file = new WatchedFile(path, { debounceMs: 100, maxDelayMs: 250, pollMs: 1e9, maxBytes: 1024 }, { clock, area: 'INVENTORY' }, (r) => reads.push(r));
    // Real events need a moment to arrive; the fake clock does not move meanwhile.
    const writeAndSettle = async (text: string): Promise<void> => {
      dir.write('b.txt', text);
      await sleep(30);
    };
    file.start();
    try {
      await waitFor(() => reads.length >= 1);
      await writeAndSettle('step 0');
      clock.advance(60);
      await writeAndSettle('step 1');
      clock.advance(60);
      await sleep(20);
      assert.deepEqual(texts(reads), ['start'], '120 ms after the first event, but only 60 since the last: still waiting');
      clock.advance(50);
      await waitFor(() => reads.length >= 2, { what: 'the debounced read' });
      assert.deepEqual(texts(reads), ['start', 'step 1'], 'one read, of the final content');

      // A writer that never pauses for debounceMs: the cap still lets a read through.
      await writeAndSettle('busy 0');
      for (let i = 1; i <= 2; i++) {
        clock.advance(90);
        await writeAndSettle(`busy ${i}`);
      }
      assert.equal(reads.length, 2, 'events every 90 ms keep postponing the read');
      clock.advance(80);
      await waitFor(() => reads.length >= 3, { what: 'the capped read' });
      assert.deepEqual(texts(reads).at(-1), 'busy 2');
    } finally {
      file.close();
    }
  });

  it('the stat poll alone finds a change when no event gets through (driven by a fake clock)', async () => {
    const path = dir.write('c.txt', 'v1');
    const clock = new FakeClock();
    const reads: FileRead[] = [];
    // Debounce so long that event-triggered checks never run: only the poll can deliver.
    const params: FileWatchParams = { debounceMs: 1e9, maxDelayMs: 1e9, pollMs: 1000, maxBytes: 1024 };
    const file = new WatchedFile(path, params, { clock, area: 'INVENTORY' }, (r) => reads.push(r));
    file.start();
    try {
      await waitFor(() => reads.length >= 1);
      dir.replace('c.txt', 'v2');
      await sleep(50);
      assert.deepEqual(texts(reads), ['v1'], 'no poll yet');
      clock.advance(1000);
      await waitFor(() => reads.length >= 2, { what: 'the poll to read v2' });
      assert.deepEqual(texts(reads), ['v1', 'v2']);
    } finally {
      file.close();
    }
  });

  it('follows a ConfigMap-style mount: the file is a symlink through ..data, swapped atomically', async () => {
    const mount = dir.file('configmap');
    mkdirSync(`${mount}/..v1`, { recursive: true });
    writeFileSync(`${mount}/..v1/pods.yaml`, 'first');
    symlinkSync('..v1', `${mount}/..data`);
    symlinkSync('..data/pods.yaml', `${mount}/pods.yaml`);
    const reads: FileRead[] = [];
    const file = new WatchedFile(`${mount}/pods.yaml`, { debounceMs: 10, maxDelayMs: 100, pollMs: 60_000, maxBytes: 1024 }, { clock: systemClock, area: 'INVENTORY' }, (r) => reads.push(r));
    file.start();
    try {
      await waitFor(() => reads.length >= 1);
      // What the kubelet does: new timestamped dir, new ..data_tmp link, rename over ..data.
      mkdirSync(`${mount}/..v2`);
      writeFileSync(`${mount}/..v2/pods.yaml`, 'second');
      symlinkSync('..v2', `${mount}/..data_tmp`);
      renameSync(`${mount}/..data_tmp`, `${mount}/..data`);
      await waitFor(() => reads.length >= 2, { what: 'the swapped content' });
      assert.deepEqual(texts(reads), ['first', 'second']);
    } finally {
      file.close();
    }
  });

  it('reports a missing file once, and a file over the size limit', async () => {
    const reads: FileRead[] = [];
    const clock = new FakeClock();
    const file = new WatchedFile(dir.file('nope.txt'), { debounceMs: 1e9, maxDelayMs: 1e9, pollMs: 1000, maxBytes: 8 }, { clock, area: 'DISCOVERY' }, (r) => reads.push(r));
    file.start();
    try {
      await waitFor(() => reads.length >= 1);
      clock.advance(1000);
      await sleep(30);
      assert.equal(reads.length, 1, 'still missing: not reported again');
      assert.equal(reads[0]?.kind === 'missing' ? reads[0].error.code : reads[0]?.kind, 'WEFT_E_DISCOVERY_FILE_MISSING');
      dir.write('nope.txt', 'more than eight bytes');
      clock.advance(1000);
      await waitFor(() => reads.length >= 2);
      assert.equal(reads[1]?.kind === 'error' ? reads[1].error.code : reads[1]?.kind, 'WEFT_E_DISCOVERY_FILE_TOO_LARGE');
    } finally {
      file.close();
    }
  });
});
