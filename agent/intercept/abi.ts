// Typed encode/decode of the structs in bpf/include/weft_abi.h. Offsets and sizes come from the
// addon (offsetof/sizeof as the C compiler laid them out), never from this file: the layout has
// one source. What this file does state is which fields it needs and how wide each must be, and it
// checks that against the addon once, at start, so a header change that TypeScript has not caught
// up with fails loudly instead of writing garbage into kernel maps.
import { endianness } from 'node:os';
import { isIP, isIPv4 } from 'node:net';
import { WeftError } from '../errors.ts';
import type { AbiDescription } from './addon.ts';

/** The ABI version this TypeScript was written against (WEFT_ABI_VERSION). */
export const EXPECTED_ABI_VERSION = 1;

export type IpFamily = 4 | 6;

export interface PodPolicy {
  readonly v4: boolean;
  readonly v6: boolean;
}

export interface PodCounters {
  readonly captured: bigint;
  readonly bypassed: bigint;
  readonly failed: bigint;
}

export interface AgentState {
  readonly heartbeatNs: bigint;
}

export interface OrigKey {
  readonly netnsCookie: bigint;
  /** The client's local port (host order). */
  readonly port: number;
  /** Family of the socket the agent accepted. */
  readonly family: IpFamily;
}

export interface OrigDst {
  /** 16 bytes, network order; a v4 address fills the first 4. */
  readonly addr: Uint8Array;
  readonly port: number;
  readonly family: IpFamily;
  readonly podCgroupId: bigint;
}

export interface Pending {
  readonly dst: OrigDst;
  readonly netnsCookie: bigint;
  readonly acceptFamily: IpFamily;
}

export interface StructCodec<T> {
  /** The C struct's name. */
  readonly name: string;
  readonly size: number;
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

export interface AbiCodecs {
  readonly version: number;
  readonly podPolicy: StructCodec<PodPolicy>;
  readonly podCounters: StructCodec<PodCounters>;
  readonly agentState: StructCodec<AgentState>;
  readonly origKey: StructCodec<OrigKey>;
  readonly origDst: StructCodec<OrigDst>;
  readonly pending: StructCodec<Pending>;
  /** meshed_cgroups / pod_counters / conn_pending keys: a u64. */
  readonly u64: StructCodec<bigint>;
  /** excluded_ports keys and values, agent_state's key: a u32. */
  readonly u32: StructCodec<number>;
  readonly constants: AbiConstants;
}

export interface AbiConstants {
  readonly afInet: number;
  readonly afInet6: number;
  readonly captureV4: number;
  readonly captureV6: number;
  readonly maxMeshedCgroups: number;
  readonly maxExcludedPorts: number;
  readonly maxCgroupDepth: number;
  readonly defaultRedirectPort: number;
}

// Integers in map keys and values are in the host's byte order (BPF runs on the same CPU).
const LITTLE = endianness() === 'LE';

function writeU16(b: Buffer, offset: number, v: number): void {
  if (LITTLE) b.writeUInt16LE(v, offset);
  else b.writeUInt16BE(v, offset);
}
function writeU32(b: Buffer, offset: number, v: number): void {
  if (LITTLE) b.writeUInt32LE(v, offset);
  else b.writeUInt32BE(v, offset);
}
function writeU64(b: Buffer, offset: number, v: bigint): void {
  if (LITTLE) b.writeBigUInt64LE(v, offset);
  else b.writeBigUInt64BE(v, offset);
}
function readU16(b: Buffer, offset: number): number {
  return LITTLE ? b.readUInt16LE(offset) : b.readUInt16BE(offset);
}
function readU32(b: Buffer, offset: number): number {
  return LITTLE ? b.readUInt32LE(offset) : b.readUInt32BE(offset);
}
function readU64(b: Buffer, offset: number): bigint {
  return LITTLE ? b.readBigUInt64LE(offset) : b.readBigUInt64BE(offset);
}

interface Layout<K extends string> {
  readonly name: string;
  readonly size: number;
  readonly at: Readonly<Record<K, number>>;
}

function abiError(message: string): WeftError {
  return new WeftError(
    'WEFT_E_INTERCEPT_ABI',
    `${message}: agent/intercept/abi.ts does not match bpf/include/weft_abi.h in the built addon; rebuild (\`npm run build\`) and update abi.ts if the header changed`,
  );
}

/** Offsets of the named fields, after checking each exists with the width this file writes. */
function layout<K extends string>(abi: AbiDescription, name: string, widths: Readonly<Record<K, number>>): Layout<K> {
  const struct = abi.structs[name];
  if (struct === undefined) throw abiError(`the addon describes no struct ${name}`);
  const at: Partial<Record<K, number>> = {};
  for (const field of Object.keys(widths) as K[]) {
    const described = struct.fields[field];
    if (described === undefined) throw abiError(`struct ${name} has no field ${field}`);
    if (described.size !== widths[field]) throw abiError(`${name}.${field} is ${described.size} bytes, abi.ts writes ${widths[field]}`);
    if (described.offset + described.size > struct.size) throw abiError(`${name}.${field} lies outside the struct`);
    at[field] = described.offset;
  }
  return { name, size: struct.size, at: at as Record<K, number> };
}

function expectSize(bytes: Buffer, size: number, name: string): void {
  if (bytes.length !== size) {
    throw new WeftError('WEFT_E_INTERCEPT_ABI', `cannot decode ${name}: ${bytes.length} bytes, the struct has ${size}`);
  }
}

function constant(abi: AbiDescription, name: string): number {
  const value = abi.constants[name];
  if (value === undefined) throw abiError(`the addon reports no constant ${name}`);
  return value;
}

/** Builds and checks every codec. Throws WEFT_E_INTERCEPT_ABI if the addon's layout is not the one expected. */
export function createAbiCodecs(abi: AbiDescription): AbiCodecs {
  if (abi.version !== EXPECTED_ABI_VERSION) throw abiError(`the addon's WEFT_ABI_VERSION is ${abi.version}, abi.ts expects ${EXPECTED_ABI_VERSION}`);
  const constants: AbiConstants = {
    afInet: constant(abi, 'WEFT_AF_INET'),
    afInet6: constant(abi, 'WEFT_AF_INET6'),
    captureV4: constant(abi, 'WEFT_POD_CAPTURE_V4'),
    captureV6: constant(abi, 'WEFT_POD_CAPTURE_V6'),
    maxMeshedCgroups: constant(abi, 'WEFT_MAX_MESHED_CGROUPS'),
    maxExcludedPorts: constant(abi, 'WEFT_MAX_EXCLUDED_PORTS'),
    maxCgroupDepth: constant(abi, 'WEFT_MAX_CGROUP_DEPTH'),
    defaultRedirectPort: constant(abi, 'WEFT_DEFAULT_REDIRECT_PORT'),
  };
  const toAf = (family: IpFamily): number => (family === 4 ? constants.afInet : constants.afInet6);
  const fromAf = (af: number, what: string): IpFamily => {
    if (af === constants.afInet) return 4;
    if (af === constants.afInet6) return 6;
    throw new WeftError('WEFT_E_INTERCEPT_ABI', `${what}: address family ${af} is neither AF_INET nor AF_INET6`);
  };

  const policy = layout(abi, 'weft_pod_policy', { flags: 4 });
  const podPolicy: StructCodec<PodPolicy> = {
    name: policy.name,
    size: policy.size,
    encode(value) {
      const b = Buffer.alloc(policy.size);
      writeU32(b, policy.at.flags, (value.v4 ? constants.captureV4 : 0) | (value.v6 ? constants.captureV6 : 0));
      return b;
    },
    decode(bytes) {
      expectSize(bytes, policy.size, policy.name);
      const flags = readU32(bytes, policy.at.flags);
      return { v4: (flags & constants.captureV4) !== 0, v6: (flags & constants.captureV6) !== 0 };
    },
  };

  const counters = layout(abi, 'weft_pod_counters', { captured: 8, bypassed: 8, failed: 8 });
  const podCounters: StructCodec<PodCounters> = {
    name: counters.name,
    size: counters.size,
    encode(value) {
      const b = Buffer.alloc(counters.size);
      writeU64(b, counters.at.captured, value.captured);
      writeU64(b, counters.at.bypassed, value.bypassed);
      writeU64(b, counters.at.failed, value.failed);
      return b;
    },
    decode(bytes) {
      expectSize(bytes, counters.size, counters.name);
      return {
        captured: readU64(bytes, counters.at.captured),
        bypassed: readU64(bytes, counters.at.bypassed),
        failed: readU64(bytes, counters.at.failed),
      };
    },
  };

  const state = layout(abi, 'weft_agent_state', { heartbeat_ns: 8 });
  const agentState: StructCodec<AgentState> = {
    name: state.name,
    size: state.size,
    encode(value) {
      const b = Buffer.alloc(state.size);
      writeU64(b, state.at.heartbeat_ns, value.heartbeatNs);
      return b;
    },
    decode(bytes) {
      expectSize(bytes, state.size, state.name);
      return { heartbeatNs: readU64(bytes, state.at.heartbeat_ns) };
    },
  };

  const key = layout(abi, 'weft_orig_key', { netns_cookie: 8, port: 2, family: 2 });
  const origKey: StructCodec<OrigKey> = {
    name: key.name,
    size: key.size,
    encode(value) {
      // Zero-filled: the padding is part of the hash key, and BPF zeroes it too.
      const b = Buffer.alloc(key.size);
      writeU64(b, key.at.netns_cookie, value.netnsCookie);
      writeU16(b, key.at.port, value.port);
      writeU16(b, key.at.family, toAf(value.family));
      return b;
    },
    decode(bytes) {
      expectSize(bytes, key.size, key.name);
      return {
        netnsCookie: readU64(bytes, key.at.netns_cookie),
        port: readU16(bytes, key.at.port),
        family: fromAf(readU16(bytes, key.at.family), key.name),
      };
    },
  };

  const dst = layout(abi, 'weft_orig_dst', { addr: 16, port: 2, family: 2, pod_cgroup_id: 8 });
  const encodeDstInto = (b: Buffer, base: number, value: OrigDst): void => {
    if (value.addr.length !== 16) throw new WeftError('WEFT_E_INTERCEPT_ABI', `weft_orig_dst.addr must be 16 bytes, got ${value.addr.length}`);
    b.set(value.addr, base + dst.at.addr);
    writeU16(b, base + dst.at.port, value.port);
    writeU16(b, base + dst.at.family, toAf(value.family));
    writeU64(b, base + dst.at.pod_cgroup_id, value.podCgroupId);
  };
  const decodeDstAt = (b: Buffer, base: number): OrigDst => ({
    addr: new Uint8Array(b.subarray(base + dst.at.addr, base + dst.at.addr + 16)),
    port: readU16(b, base + dst.at.port),
    family: fromAf(readU16(b, base + dst.at.family), dst.name),
    podCgroupId: readU64(b, base + dst.at.pod_cgroup_id),
  });
  const origDst: StructCodec<OrigDst> = {
    name: dst.name,
    size: dst.size,
    encode(value) {
      const b = Buffer.alloc(dst.size);
      encodeDstInto(b, 0, value);
      return b;
    },
    decode(bytes) {
      expectSize(bytes, dst.size, dst.name);
      return decodeDstAt(bytes, 0);
    },
  };

  const pend = layout(abi, 'weft_pending', { dst: dst.size, netns_cookie: 8, accept_family: 2 });
  const pending: StructCodec<Pending> = {
    name: pend.name,
    size: pend.size,
    encode(value) {
      const b = Buffer.alloc(pend.size);
      encodeDstInto(b, pend.at.dst, value.dst);
      writeU64(b, pend.at.netns_cookie, value.netnsCookie);
      writeU16(b, pend.at.accept_family, toAf(value.acceptFamily));
      return b;
    },
    decode(bytes) {
      expectSize(bytes, pend.size, pend.name);
      return {
        dst: decodeDstAt(bytes, pend.at.dst),
        netnsCookie: readU64(bytes, pend.at.netns_cookie),
        acceptFamily: fromAf(readU16(bytes, pend.at.accept_family), pend.name),
      };
    },
  };

  const u64: StructCodec<bigint> = {
    name: 'u64',
    size: 8,
    encode(value) {
      const b = Buffer.alloc(8);
      writeU64(b, 0, value);
      return b;
    },
    decode(bytes) {
      expectSize(bytes, 8, 'u64');
      return readU64(bytes, 0);
    },
  };
  const u32: StructCodec<number> = {
    name: 'u32',
    size: 4,
    encode(value) {
      const b = Buffer.alloc(4);
      writeU32(b, 0, value);
      return b;
    },
    decode(bytes) {
      expectSize(bytes, 4, 'u32');
      return readU32(bytes, 0);
    },
  };

  return { version: abi.version, podPolicy, podCounters, agentState, origKey, origDst, pending, u64, u32, constants };
}

// ---- addresses: text ⇄ the 16-byte form the maps hold ----

export interface IpBytes {
  readonly family: IpFamily;
  /** 16 bytes; for family 4 the address is in the first 4 and the rest are zero. */
  readonly bytes: Uint8Array;
}

/**
 * Parses an IPv4 or IPv6 address. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) stays family 6:
 * use unmapV4() where a mapped address should count as IPv4. Zone ids (fe80::1%eth0) are refused:
 * the maps have no room for one. Returns undefined for anything that is not an address.
 */
export function parseIp(text: string): IpBytes | undefined {
  if (isIPv4(text)) {
    const bytes = new Uint8Array(16);
    bytes.set(text.split('.').map(Number), 0);
    return { family: 4, bytes };
  }
  if (isIP(text) !== 6 || text.includes('%')) return undefined;
  const bytes = parseIPv6(text);
  return bytes === undefined ? undefined : { family: 6, bytes };
}

/** parseIp that throws WEFT_E_INTERCEPT_ADDRESS. */
export function ipToBytes(text: string): IpBytes {
  const parsed = parseIp(text);
  if (parsed === undefined) throw new WeftError('WEFT_E_INTERCEPT_ADDRESS', `${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  return parsed;
}

function parseIPv6(text: string): Uint8Array | undefined {
  const words: number[] = [];
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const groups = part.split(':');
    for (const [i, group] of groups.entries()) {
      if (i === groups.length - 1 && group.includes('.')) {
        if (!isIPv4(group)) return undefined;
        const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
        out.push(parseInt(group, 16));
      }
    }
    return out;
  };
  const head = parseGroups(halves[0] ?? '');
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  words.push(...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail);
  const bytes = new Uint8Array(16);
  for (const [i, word] of words.entries()) {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  }
  return bytes;
}

/** True for ::ffff:a.b.c.d. */
export function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** ::ffff:a.b.c.d → a.b.c.d; anything else unchanged. */
export function unmapV4(ip: IpBytes): IpBytes {
  if (ip.family !== 6 || !isV4Mapped(ip.bytes)) return ip;
  const bytes = new Uint8Array(16);
  bytes.set(ip.bytes.subarray(12, 16), 0);
  return { family: 4, bytes };
}

/**
 * Text form: dotted quad for v4; RFC 5952 for v6 (lower case, no leading zeros, the longest run of
 * two or more zero groups as "::", the first if tied), with ::ffff:a.b.c.d for mapped addresses.
 */
export function formatIp(ip: IpBytes): string {
  const b = ip.bytes;
  if (b.length !== 16) throw new WeftError('WEFT_E_INTERCEPT_ADDRESS', `an address is 16 bytes here, got ${b.length}`);
  const quad = (at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  if (ip.family === 4) return quad(0);
  if (isV4Mapped(b)) return `::ffff:${quad(12)}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[i * 2] ?? 0) << 8) | (b[i * 2 + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never shortened (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}
