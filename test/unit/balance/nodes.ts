// Plain pick nodes for the picker tests: load and availability set by hand.
import { PeakEwma, peakEwmaParams } from '../../../agent/balance/peak-ewma.ts';
import type { Exclusion, PickNode } from '../../../agent/balance/pick.ts';

export class TestNode implements PickNode {
  readonly key: string;
  pending = 0;
  up = true;
  readonly ewma: PeakEwma;

  constructor(key: string, now = 0, rttMs = peakEwmaParams.defaultRttMs) {
    this.key = key;
    this.ewma = new PeakEwma({ ...peakEwmaParams, defaultRttMs: rttMs }, now);
  }

  available(): boolean {
    return this.up;
  }
}

export function nodes(count: number, now = 0): TestNode[] {
  return Array.from({ length: count }, (_, i) => new TestNode(`10.0.0.${i + 1}:80`, now));
}

export function exclusion(keys: Iterable<string>): Exclusion {
  const set = new Set(keys);
  return { has: (key) => set.has(key), add: (key) => void set.add(key) };
}

/** How often each key was picked over `rounds` picks. */
export function tally(rounds: number, pick: () => PickNode | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < rounds; i++) {
    const node = pick();
    const key = node === undefined ? '(none)' : node.key;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
