// The /status document: what a person (or `weft status`) needs to see whether capture works:
// each pod with its cgroup, netns, meshed state and BPF counters; the attachments; recent
// connections with their outcome. Plain data, assembled from the parts' own status methods.
import type { OutboundConnectionRecord } from '../proxy/outbound.ts';

/** The last N finished connections, newest last, so failures are visible with their reasons. */
export class RecentConnections {
  readonly #limit: number;
  readonly #records: OutboundConnectionRecord[] = [];
  readonly totals = { connections: 0, failed: 0, clientBytes: 0, upstreamBytes: 0 };

  constructor(limit = 50) {
    this.#limit = limit;
  }

  add(record: OutboundConnectionRecord): void {
    this.totals.connections += 1;
    if (record.outcome === 'connect-failed' || record.outcome === 'no-original-destination') this.totals.failed += 1;
    this.totals.clientBytes += record.clientBytes;
    this.totals.upstreamBytes += record.upstreamBytes;
    this.#records.push(record);
    if (this.#records.length > this.#limit) this.#records.shift();
  }

  list(): readonly OutboundConnectionRecord[] {
    return this.#records;
  }
}
