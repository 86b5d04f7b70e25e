// A parsed head: where its bytes are, offsets into them, and the framing decision. Names and values
// stay bytes until someone asks (most fields are only copied through to the next hop, and making a
// string from a Buffer costs ~100 ns here), so parsing a head makes this object and its offsets
// array, and nothing per field; common methods are constant strings.
import { equalsLower } from './chars.ts';
import { FIELD_STRIDE } from './field-line.ts';
import type { BodyFraming, FramingFacts, ResponseContext } from './framing.ts';
import type { KnownField } from './known-fields.ts';
import type { StartLine, TargetForm } from './start-line.ts';

export class Http1Head implements ResponseContext {
  readonly kind: 'request' | 'response';
  /**
   * The buffer holding the head, at source[start, end): the caller's chunk when the head came in one
   * piece (no copy; a caller that reuses read buffers must copy before reusing one), else the buffer
   * the parser gathered it in. Offsets in `fields` are relative to `start`.
   */
  readonly source: Buffer;
  readonly start: number;
  readonly end: number;
  /** Request method, case kept (methods are case-sensitive); '' for a response. */
  readonly method: string;
  /** Request target form (RFC 9112 §3.2); 'origin' for a response. */
  readonly targetForm: TargetForm;
  /** Response status code; 0 for a request. */
  readonly status: number;
  /** HTTP/1.<minor>: 0 or 1. */
  readonly minor: number;
  /** FIELD_STRIDE ints per field line, in order: name start, name end, value start, value end, KnownField. */
  readonly fields: readonly number[];
  readonly fieldCount: number;
  /** How the body is delimited (see BodyFraming). */
  readonly body: BodyFraming;
  /** The Content-Length value when one was sent and valid (kept for HEAD and 304 responses too), else -1. */
  readonly contentLength: number;
  /** The connection may carry another message after this one (RFC 9112 §9.3). */
  readonly keepAlive: boolean;
  /** Request: asks to switch protocols (HTTP/1.1, Upgrade and Connection: upgrade). Response: a 101. */
  readonly upgrade: boolean;
  /** An HTTP/1.1 request that waits for 100 Continue before sending its body (RFC 9110 §10.1.1). */
  readonly expectContinue: boolean;
  /** Lowercased Connection options besides close, keep-alive and upgrade: more hop-by-hop fields. */
  readonly connectionOptions: readonly string[] | undefined;
  /** Index of the Host field line, -1 if none. */
  readonly hostIndex: number;
  readonly #targetStart: number;
  readonly #targetEnd: number;
  readonly #reasonStart: number;
  readonly #reasonEnd: number;
  #target: string | undefined;
  #bytes: Buffer | undefined;

  constructor(
    kind: 'request' | 'response',
    source: Buffer,
    start: number,
    end: number,
    line: StartLine,
    fields: number[],
    facts: FramingFacts,
  ) {
    this.kind = kind;
    this.source = source;
    this.start = start;
    this.end = end;
    this.method = line.method;
    this.targetForm = line.targetForm;
    this.status = line.status;
    this.minor = line.minor;
    this.fields = fields;
    this.fieldCount = fields.length / FIELD_STRIDE;
    this.body = facts.body;
    this.contentLength = facts.clBad || facts.clMismatch ? -1 : facts.clValue;
    this.keepAlive = facts.keepAlive;
    this.upgrade = facts.upgrade;
    this.expectContinue = facts.expectContinue;
    this.connectionOptions = facts.connOptions;
    this.hostIndex = facts.hostIndex;
    this.#targetStart = line.targetStart;
    this.#targetEnd = line.targetEnd;
    this.#reasonStart = line.reasonStart;
    this.#reasonEnd = line.reasonEnd;
    this.#target = undefined;
    this.#bytes = undefined;
  }

  /** The head's bytes, start line through the blank line (a view, made on first use). */
  get bytes(): Buffer {
    return (this.#bytes ??= this.source.subarray(this.start, this.end));
  }

  /** The head's size in bytes. */
  get length(): number {
    return this.end - this.start;
  }

  #text(from: number, to: number): string {
    return this.source.toString('latin1', this.start + from, this.start + to);
  }

  /** The request-target as sent; '' for a response. */
  get target(): string {
    return (this.#target ??= this.#text(this.#targetStart, this.#targetEnd));
  }

  /** The reason-phrase of a response; '' for a request. */
  get reason(): string {
    return this.#text(this.#reasonStart, this.#reasonEnd);
  }

  /** Field name i as sent (case kept). */
  name(i: number): string {
    const f = this.fields;
    return this.#text(f[i * FIELD_STRIDE] as number, f[i * FIELD_STRIDE + 1] as number);
  }

  /** Field value i without surrounding whitespace; obs-text bytes come back as latin1 characters. */
  value(i: number): string {
    const f = this.fields;
    return this.#text(f[i * FIELD_STRIDE + 2] as number, f[i * FIELD_STRIDE + 3] as number);
  }

  known(i: number): KnownField {
    return this.fields[i * FIELD_STRIDE + 4] as KnownField;
  }

  /** Whether field i's name is `lower` (lowercase), compared without making a string. */
  nameIs(i: number, lower: string): boolean {
    const f = this.fields;
    const at = this.start;
    return equalsLower(this.source, at + (f[i * FIELD_STRIDE] as number), at + (f[i * FIELD_STRIDE + 1] as number), lower);
  }

  /** Index of the first field named `lower` (lowercase), or -1. */
  indexOf(lower: string, from = 0): number {
    for (let i = from; i < this.fieldCount; i++) if (this.nameIs(i, lower)) return i;
    return -1;
  }

  /** The first value of field `lower` (lowercase), or undefined. */
  get(lower: string): string | undefined {
    const i = this.indexOf(lower);
    return i < 0 ? undefined : this.value(i);
  }

  /** The Host value, or undefined. */
  get host(): string | undefined {
    return this.hostIndex < 0 ? undefined : this.value(this.hostIndex);
  }
}
