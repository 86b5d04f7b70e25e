// Polling with a deadline, for conditions no event announces (a map entry appears, a counter
// moves). A timeout fails with what was awaited and the last thing the probe said.
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

export interface WaitOptions {
  /** Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Default 25 ms. */
  readonly intervalMs?: number;
  /** Named in the failure message: "timed out after 5000 ms waiting for <what>". */
  readonly what?: string;
}

/**
 * Calls `probe` until it returns something other than undefined, null or false, and returns that.
 * A probe that throws is retried; its last error is in the failure message.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = performance.now() + timeoutMs;
  let last: { kind: 'value'; value: unknown } | { kind: 'error'; error: unknown } | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      last = { kind: 'value', value };
    } catch (error) {
      last = { kind: 'error', error };
    }
    if (performance.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - performance.now())));
  }
  const lastSaid =
    last === undefined ? 'the probe never ran' : last.kind === 'error' ? `last error: ${inspect(last.error)}` : `last value: ${inspect(last.value)}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'the condition'}; ${lastSaid}`);
}
