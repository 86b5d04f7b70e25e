// Run last by scripts/test.sh: proves the whole run left nothing behind. Anything found is removed
// AND fails the run, listed, because a test that leaks namespaces, cgroups, pins or processes is
// broken even when its own assertions passed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeLeftovers, findLeftovers, isClean, removeLeftovers } from '../agent/lab/sweep.ts';
import { Ledger } from './support/ledger.ts';

const run = process.env['WEFT_TEST_RUN'];
const skip = run === undefined || run === '' ? 'WEFT_TEST_RUN is not set, so there is no run to check (npm test sets it)' : false;
if (skip !== false) console.warn(`WEFT TEST SKIPPED leftovers: ${skip}`);

test(`the test run left no netns, cgroup, bpffs pin or process behind (${run ?? 'no run'})`, { skip }, async () => {
  if (run === undefined) return;
  const ledger = new Ledger(run);
  const found = findLeftovers(run, { resources: ledger.entries() });
  if (isClean(found)) {
    ledger.remove();
    return;
  }
  const errors = await removeLeftovers(found);
  const still = findLeftovers(run, { resources: ledger.entries() });
  if (isClean(still)) ledger.remove();
  assert.fail(
    [
      `run ${run} left ${describeLeftovers(found).length} things behind; they were removed now, but the test that made them leaks:`,
      ...describeLeftovers(found).map((line) => `  ${line}`),
      ...(errors.length > 0 ? ['removing them failed for:', ...errors.map((line) => `  ${line}`)] : []),
      ...(isClean(still) ? [] : [`still there: ${describeLeftovers(still).join(', ')} (ledger kept: ${ledger.path})`]),
    ].join('\n'),
  );
});
