// Body replay for retries: every attempt sees the whole body, byte for byte, however the client's
// chunks and the attempts interleave, while the body is within the limit; past it, no replay.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HttpBody, readBody } from '../../../agent/proxy/http/body.ts';
import { ReplayableBody } from '../../../agent/proxy/http/replay-body.ts';

function source(): { body: HttpBody; resumed: () => number } {
  let resumes = 0;
  const body = new HttpBody(undefined, { resume: () => resumes++, cancel: () => undefined });
  return { body, resumed: () => resumes };
}

describe('ReplayableBody', () => {
  it('gives a retry the whole body, even when it starts before the client finished sending (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 12 }), fc.nat({ max: 12 }), async (chunks, cut) => {
        const { body } = source();
        const replay = new ReplayableBody(body, 64 * 1024);
        const first = replay.nextAttempt();
        const firstRead = readBody(first).catch(() => undefined);
        const split = Math.min(cut, chunks.length);
        for (const c of chunks.slice(0, split)) body.push(Buffer.from(c));
        // The first attempt fails here; the retry must get what was read so far, then the rest live.
        const second = replay.nextAttempt();
        const secondRead = readBody(second);
        for (const c of chunks.slice(split)) body.push(Buffer.from(c));
        body.end();
        await firstRead;
        const expected = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        assert.deepEqual(await secondRead, expected);
        assert.equal(replay.replayBytes, expected.length);
        assert.equal(replay.replayable, true);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps its own copy: a producer reusing its read buffer does not change what is replayed', async () => {
    const { body } = source();
    const replay = new ReplayableBody(body, 1024);
    void readBody(replay.nextAttempt());
    const buf = Buffer.from('abcd');
    body.push(buf);
    buf.fill(0x7a);
    body.end();
    assert.equal((await readBody(replay.nextAttempt())).toString(), 'abcd');
  });

  it('stops being replayable past the limit, while the attempt in progress still gets everything', async () => {
    const { body } = source();
    const replay = new ReplayableBody(body, 10);
    const first = readBody(replay.nextAttempt());
    body.push(Buffer.alloc(8, 1));
    assert.equal(replay.replayable, true);
    body.push(Buffer.alloc(8, 2));
    body.end();
    assert.equal((await first).length, 16);
    assert.equal(replay.replayable, false);
    assert.ok(replay.replayBytes > 10);
    await assert.rejects(readBody(replay.nextAttempt()), /larger than the replay limit/);
  });

  it('cancels the client’s body when the request fails for good before it was sent', () => {
    let cancelled: unknown;
    const body = new HttpBody(undefined, { resume: () => undefined, cancel: (reason) => (cancelled = reason) });
    const replay = new ReplayableBody(body, 1024);
    replay.nextAttempt();
    replay.retire(new Error('no endpoints'));
    assert.match(String(cancelled), /no endpoints/);
  });
});
