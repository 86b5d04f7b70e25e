// A header (or trailer) list: lower-case names, order and repeats kept, in one flat array
// [name0, value0, name1, value1, ...] so a list of n fields is one array, not n tuples.
// Names are lower-case by contract (HTTP/2 requires it; HTTP/1.1 names are case-insensitive), which
// makes look-ups plain string compares. Transports never put framing or connection-specific fields
// here (content-length, transfer-encoding, connection, keep-alive, host): those are the transport's
// to write, once, for the next hop. Three hop-by-hop meanings do travel, each in one fixed form the
// next transport turns back into its own fields (see README.md): `te: trailers`, `expect:
// 100-continue` (HTTP/1.1 requests), and a 101 response's `upgrade` (the protocol switched to).
import { WeftError } from '../../errors.ts';

// RFC 9110 §5.1 token, and §5.5 field-value without CR, LF or NUL (header injection).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\0\r\n]/;

export class HttpHeaders {
  /** name, value, name, value, ... */
  readonly list: string[];

  constructor(list: string[] = []) {
    this.list = list;
  }

  /** Number of fields. */
  get size(): number {
    return this.list.length >>> 1;
  }

  name(i: number): string {
    return this.list[i * 2] as string;
  }

  value(i: number): string {
    return this.list[i * 2 + 1] as string;
  }

  /** The first value of `name` (lower-case), or undefined. */
  get(name: string): string | undefined {
    const l = this.list;
    for (let i = 0; i < l.length; i += 2) if (l[i] === name) return l[i + 1];
    return undefined;
  }

  /** Every value of `name` (lower-case), in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const l = this.list;
    for (let i = 0; i < l.length; i += 2) if (l[i] === name) out.push(l[i + 1] as string);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Appends a field. Checked, because layers add fields from config and from other requests: a name
   * that is not a lower-case token or a value with CR, LF or NUL would let one request forge fields.
   */
  add(name: string, value: string): this {
    checkField(name, value);
    this.list.push(name, value);
    return this;
  }

  /** Replaces every `name` field with one. */
  set(name: string, value: string): this {
    this.delete(name);
    return this.add(name, value);
  }

  delete(name: string): this {
    const l = this.list;
    let o = 0;
    for (let i = 0; i < l.length; i += 2) {
      if (l[i] === name) continue;
      l[o++] = l[i] as string;
      l[o++] = l[i + 1] as string;
    }
    l.length = o;
    return this;
  }

  /** Appends a field the caller has already checked (a transport copying a parsed head). */
  addTrusted(name: string, value: string): void {
    this.list.push(name, value);
  }
}

export function checkField(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new WeftError('WEFT_E_HTTP_BAD_FIELD', `http: field name ${JSON.stringify(name)} is not a lower-case token`);
  if (BAD_VALUE.test(value)) throw new WeftError('WEFT_E_HTTP_BAD_FIELD', `http: value of ${name} holds CR, LF or NUL`);
}
