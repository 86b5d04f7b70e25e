// Original destinations of redirected connections. sockops files each under (pod netns cookie,
// client port, family of the socket the agent accepts): exactly what the agent knows after accept().
// An entry is read once and deleted, so a later connection from the same client port never sees a
// stale answer; entries never read age out of the LRU map.
import { formatIp, type AbiCodecs, type IpFamily } from './abi.ts';
import type { NativePrograms } from './addon.ts';

export interface OriginalDestination {
  /** Text form (v4 dotted quad, v6 RFC 5952). A v4-mapped destination comes back as IPv4. */
  readonly address: string;
  readonly port: number;
  readonly family: IpFamily;
  /** The meshed cgroup that matched the connecting task: the pod's identity. */
  readonly podCgroupId: bigint;
}

export class OrigDstTable {
  readonly #native: NativePrograms;
  readonly #codecs: AbiCodecs;

  constructor(native: NativePrograms, codecs: AbiCodecs) {
    this.#native = native;
    this.#codecs = codecs;
  }

  /**
   * Where the client on `clientPort` (the accepted socket's remotePort) meant to go, or undefined
   * if the connection was not redirected (or its record was lost). Consumes the record.
   */
  take(netnsCookie: bigint, acceptFamily: IpFamily, clientPort: number): OriginalDestination | undefined {
    const key = this.#codecs.origKey.encode({ netnsCookie, port: clientPort, family: acceptFamily });
    const value = this.#native.mapLookup('orig_dst', key);
    if (value === null) return undefined;
    this.#native.mapDelete('orig_dst', key);
    const dst = this.#codecs.origDst.decode(value);
    return { address: formatIp({ family: dst.family, bytes: dst.addr }), port: dst.port, family: dst.family, podCgroupId: dst.podCgroupId };
  }

  /** Records not yet taken; for the status page and tests. */
  size(): number {
    return this.#native.mapEntries('orig_dst').length;
  }
}
