// A small authoritative DNS server on 127.0.0.1 (a random UDP port) for discovery tests: A, AAAA and
// SRV records a test sets and changes as it runs, with TTLs, a count of the queries per name and
// type, and failures on demand (SERVFAIL, NXDOMAIN, REFUSED, or silence so the client times out).
//
// The message codec is hand-written (RFC 1035 §4, RFC 3596 for AAAA, RFC 2782 for SRV) and covers
// what a stub resolver sends: one question, maybe an EDNS OPT record in the additional section
// (ignored: answers are always small). Answers point back at the question's name (compression
// pointer 0x0c), so they echo the client's spelling, 0x20 case randomisation included.
// A name with no records of the asked type but others answers NOERROR with no answers (NODATA); a
// name with none at all answers NXDOMAIN. No SOA is sent, so resolvers cache no negative answers.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

export const dnsType = { A: 1, AAAA: 28, SRV: 33 } as const;
export type DnsRecordType = keyof typeof dnsType;

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

/** How the server answers a name instead of its records. `drop`: never answers (client timeout). */
export type DnsFailure = 'servfail' | 'nxdomain' | 'refused' | 'drop';

interface RecordSet {
  readonly ttl: number;
  readonly values: readonly string[] | readonly SrvRecord[];
}

const rcode = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;

/** A decoded question: the name (lower case, no trailing dot), its type, and its raw bytes to echo. */
export interface DnsQuestion {
  readonly id: number;
  readonly flags: number;
  readonly name: string;
  readonly type: number;
  readonly qclass: number;
  /** The question section as received (name, type, class). */
  readonly raw: Buffer;
}

/** Reads the header and first question of a query; undefined for anything that is not one. */
export function decodeQuery(message: Buffer): DnsQuestion | undefined {
  if (message.length < 12) return undefined;
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  const qdcount = message.readUInt16BE(4);
  if ((flags & 0x8000) !== 0 || qdcount < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = message[offset];
    if (length === undefined) return undefined;
    // Questions in queries are never compressed; a pointer or reserved label type is malformed here.
    if ((length & 0xc0) !== 0) return undefined;
    offset += 1;
    if (length === 0) break;
    if (offset + length > message.length) return undefined;
    labels.push(message.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  const type = message.readUInt16BE(offset);
  const qclass = message.readUInt16BE(offset + 2);
  return { id, flags, name: labels.join('.').toLowerCase(), type, qclass, raw: message.subarray(12, offset + 4) };
}

/** A response to `question`: `rcode`, and answers of the question's type (name given by pointer). */
export function encodeResponse(question: DnsQuestion, code: number, answers: readonly { readonly ttl: number; readonly rdata: Buffer }[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(question.id, 0);
  // QR, the query's opcode, AA, the query's RD; RA clear (this server does not recurse); rcode.
  const opcode = question.flags & 0x7800;
  const rd = question.flags & 0x0100;
  header.writeUInt16BE(0x8000 | opcode | 0x0400 | rd | code, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts: Buffer[] = [header, question.raw];
  for (const answer of answers) {
    const fixed = Buffer.alloc(12);
    fixed.writeUInt16BE(0xc00c, 0); // the question's name, at offset 12
    fixed.writeUInt16BE(question.type, 2);
    fixed.writeUInt16BE(1, 4); // IN
    fixed.writeUInt32BE(answer.ttl >>> 0, 6);
    fixed.writeUInt16BE(answer.rdata.length, 10);
    parts.push(fixed, answer.rdata);
  }
  return Buffer.concat(parts);
}

/** A domain name in wire form, uncompressed: `a.example` → 1 a 7 example 0. */
export function encodeName(name: string): Buffer {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const parts: Buffer[] = [];
  if (trimmed !== '') {
    for (const label of trimmed.split('.')) {
      const bytes = Buffer.from(label, 'latin1');
      if (bytes.length === 0 || bytes.length > 63) throw new Error(`bad DNS label in ${JSON.stringify(name)}`);
      parts.push(Buffer.from([bytes.length]), bytes);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

export function encodeA(address: string): Buffer {
  if (isIP(address) !== 4) throw new Error(`not an IPv4 address: ${address}`);
  return Buffer.from(address.split('.').map(Number));
}

export function encodeAaaa(address: string): Buffer {
  if (isIP(address) !== 6 || address.includes('.')) throw new Error(`not an IPv6 address (without an embedded IPv4 part): ${address}`);
  const [head = '', tail] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

export function encodeSrv(record: SrvRecord): Buffer {
  const fixed = Buffer.alloc(6);
  fixed.writeUInt16BE(record.priority, 0);
  fixed.writeUInt16BE(record.weight, 2);
  fixed.writeUInt16BE(record.port, 4);
  return Buffer.concat([fixed, encodeName(record.target)]);
}

export class TestDnsServer {
  readonly #socket: Socket;
  readonly #records = new Map<string, Map<number, RecordSet>>();
  readonly #failures = new Map<string, DnsFailure>();
  readonly #queries = new Map<string, number>();
  #port = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (message, peer) => this.#answer(message, peer));
  }

  /** Listens on 127.0.0.1 at `port`, or one the kernel picks (to bring a closed server back: its old port). */
  static async start(port = 0): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    const server = new TestDnsServer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    server.#port = socket.address().port;
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** `127.0.0.1:<port>`, as `Resolver.setServers` takes it. */
  get server(): string {
    return `127.0.0.1:${this.#port}`;
  }

  setA(name: string, addresses: readonly string[], ttl: number): void {
    for (const address of addresses) encodeA(address);
    this.#set(name, dnsType.A, { ttl, values: addresses });
  }

  setAaaa(name: string, addresses: readonly string[], ttl: number): void {
    for (const address of addresses) encodeAaaa(address);
    this.#set(name, dnsType.AAAA, { ttl, values: addresses });
  }

  setSrv(name: string, records: readonly SrvRecord[], ttl: number): void {
    this.#set(name, dnsType.SRV, { ttl, values: records });
  }

  /** Removes one type of record of a name, or all (then the name is NXDOMAIN). */
  remove(name: string, type?: DnsRecordType): void {
    const key = normalise(name);
    if (type === undefined) this.#records.delete(key);
    else this.#records.get(key)?.delete(dnsType[type]);
  }

  /** Answers `name` (or every name, `*`) with a failure until `fail(name, undefined)`. */
  fail(name: string, failure: DnsFailure | undefined): void {
    const key = name === '*' ? '*' : normalise(name);
    if (failure === undefined) this.#failures.delete(key);
    else this.#failures.set(key, failure);
  }

  /** Queries received for `name` (of `type`, or of every type), failures and drops included. */
  queries(name: string, type?: DnsRecordType): number {
    const key = normalise(name);
    if (type !== undefined) return this.#queries.get(`${key}|${dnsType[type]}`) ?? 0;
    let total = 0;
    for (const t of Object.values(dnsType)) total += this.#queries.get(`${key}|${t}`) ?? 0;
    return total;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #set(name: string, type: number, set: RecordSet): void {
    const key = normalise(name);
    let byType = this.#records.get(key);
    if (byType === undefined) this.#records.set(key, (byType = new Map<number, RecordSet>()));
    byType.set(type, set);
  }

  #answer(message: Buffer, peer: RemoteInfo): void {
    const question = decodeQuery(message);
    if (question === undefined) return;
    const counter = `${question.name}|${question.type}`;
    this.#queries.set(counter, (this.#queries.get(counter) ?? 0) + 1);
    const failure = this.#failures.get(question.name) ?? this.#failures.get('*');
    let response: Buffer;
    if (failure === 'drop') return;
    if (failure === 'servfail') response = encodeResponse(question, rcode.servFail, []);
    else if (failure === 'refused') response = encodeResponse(question, rcode.refused, []);
    else if (failure === 'nxdomain') response = encodeResponse(question, rcode.nxDomain, []);
    else if ((question.flags & 0x7800) !== 0) response = encodeResponse(question, rcode.notImp, []);
    else if (question.qclass !== 1) response = encodeResponse(question, rcode.refused, []);
    else {
      const byType = this.#records.get(question.name);
      if (byType === undefined || byType.size === 0) response = encodeResponse(question, rcode.nxDomain, []);
      else {
        const set = byType.get(question.type);
        response = encodeResponse(question, rcode.noError, set === undefined ? [] : rdataOf(question.type, set));
      }
    }
    this.#socket.send(response, peer.port, peer.address);
  }
}

function rdataOf(type: number, set: RecordSet): { ttl: number; rdata: Buffer }[] {
  if (type === dnsType.SRV) return (set.values as readonly SrvRecord[]).map((record) => ({ ttl: set.ttl, rdata: encodeSrv(record) }));
  const encode = type === dnsType.A ? encodeA : encodeAaaa;
  return (set.values as readonly string[]).map((address) => ({ ttl: set.ttl, rdata: encode(address) }));
}

function normalise(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}
