// One prefix per test run. `npm test` sets WEFT_TEST_RUN so every test file (each its own process)
// and every process they start share it, and the final leftover check knows what to look for.
import { checkPrefix, newPrefix, randomHex } from '../../agent/lab/names.ts';

/** The run's prefix: WEFT_TEST_RUN, or a new `weft-t<6 hex>` that is then put into the environment. */
export function runPrefix(): string {
  const given = process.env['WEFT_TEST_RUN'];
  if (given !== undefined && given !== '') return checkPrefix(given);
  const made = newPrefix('weft-t');
  // Child processes (agents, fixtures) inherit it, so their leftovers carry the same prefix.
  process.env['WEFT_TEST_RUN'] = made;
  return made;
}

/** A prefix for one lab inside the run, `<run>-<4 hex>`: labs of different tests never collide. */
export function labPrefix(): string {
  return checkPrefix(`${runPrefix()}-${randomHex(2)}`);
}
