// The dtab notation parser: the grammar of Finagle's NameTreeParsers.scala, written again here.
//
//   path    ::= '/' | '/' label ('/' label)*          label ::= ([0-9A-Za-z_:.#$%-] | '\x' hex hex)+
//   prefix  ::= '/' | '/' elem ('/' elem)*            elem  ::= label | '*'
//   tree    ::= tree1 ('|' tree1)*                    alternation binds loosest
//   tree1   ::= weighted ('&' weighted)*              union binds tighter than '|'
//   weighted::= [weight '*'] simple                   weight ::= [0-9]* '.'? [0-9]*, default 1
//   simple  ::= '(' tree ')' | path | '!' | '~' | '$'
//   dentry  ::= prefix '=>' tree
//   dtab    ::= [dentry] (';' [dentry])*              a trailing ';' is allowed, ';;' is not
//
// Whitespace (Java's Character.isWhitespace) may come before any token, and `#` there starts a
// comment to the end of the line; inside a label `#` is an ordinary character (`/s#/foo`).
// A weight that is not followed by `&` is parsed and dropped, as in Finagle (`0.5*/a` is `/a`).
//
// Input may come from a request header, so every entry point is bounded: length, parenthesis
// nesting (the only recursion) and dentry count, and every failure is a NamingParseError with the
// offset, what was expected and what was found. The parser is linear in the input.
import { WeftError } from '../errors.ts';
import { type Dentry, type Dtab, type Prefix, type PrefixElem, anyElem, dentry } from './dtab.ts';
import {
  type NameTree,
  type Weighted,
  alt,
  defaultWeight,
  empty,
  fail,
  leaf,
  neg,
  union,
  weighted,
} from './name-tree.ts';
import { type Path, emptyPath, isShowableChar } from './path.ts';

export const namingParseCode = 'WEFT_E_NAMING_PARSE';

export interface NamingParseParams {
  /** Longest input accepted, in UTF-16 code units. */
  readonly maxLength: number;
  /** Deepest nesting of parentheses in a tree; the parser's only recursion. */
  readonly maxNesting: number;
  /** Most dentries in one dtab. */
  readonly maxDentries: number;
}

/** For dtabs an operator writes (config files, the default dtab). */
export const namingParseParams: NamingParseParams = Object.freeze({
  maxLength: 256 * 1024,
  maxNesting: 64,
  maxDentries: 4096,
});

/** What was being parsed, for messages. */
export type ParseSubject = 'path' | 'name tree' | 'dentry' | 'dentry prefix' | 'dtab';

export class NamingParseError extends WeftError {
  readonly subject: ParseSubject;
  /** Offset in the input (UTF-16 code units) where parsing stopped. */
  readonly position: number;
  readonly expected: string;
  readonly found: string;

  constructor(
    subject: ParseSubject,
    input: string,
    position: number,
    expected: string,
    found: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      namingParseCode,
      `invalid ${subject}: ${expected} expected but ${found} found at offset ${position}: '${excerpt(input, position)}'`,
      options,
    );
    this.name = 'NamingParseError';
    this.subject = subject;
    this.position = position;
    this.expected = expected;
    this.found = found;
  }
}

export function parsePath(input: string, params: NamingParseParams = namingParseParams): Path {
  return run('path', input, params, (p) => p.parsePath());
}

export function parseNameTree(input: string, params: NamingParseParams = namingParseParams): NameTree<Path> {
  return run('name tree', input, params, (p) => p.parseTree());
}

export function parsePrefix(input: string, params: NamingParseParams = namingParseParams): Prefix {
  return run('dentry prefix', input, params, (p) => p.parsePrefix());
}

export function parseDentry(input: string, params: NamingParseParams = namingParseParams): Dentry {
  return run('dentry', input, params, (p) => p.parseDentry());
}

export function parseDtab(input: string, params: NamingParseParams = namingParseParams): Dtab {
  return run('dtab', input, params, (p) => p.parseDtab());
}

/** What earlier parts of one input already used, when a dtab arrives in several parts. */
export interface ParseUsage {
  readonly length: number;
  readonly dentries: number;
}

/** One part of a dtab that arrives in parts (repeated headers): the bounds hold for all parts. */
export function parseDtabPart(input: string, used: ParseUsage, params: NamingParseParams = namingParseParams): Dtab {
  return run('dtab', input, params, (p) => p.parseDtab(), used);
}

const unused: ParseUsage = Object.freeze({ length: 0, dentries: 0 });

function run<T>(
  subject: ParseSubject,
  input: string,
  params: NamingParseParams,
  body: (p: Parser) => T,
  used: ParseUsage = unused,
): T {
  if (used.length + input.length > params.maxLength) {
    throw new NamingParseError(
      subject,
      input,
      Math.max(0, params.maxLength - used.length),
      `at most ${params.maxLength} characters`,
      used.length === 0 ? `${input.length} characters` : `${used.length + input.length} characters in all parts`,
    );
  }
  const parser = new Parser(subject, input, params, used.dentries);
  try {
    const value = body(parser);
    parser.eatWhitespace();
    parser.ensureEnd();
    return value;
  } catch (error) {
    if (error instanceof NamingParseError) throw error;
    // Not reachable by design (the parser throws nothing else, and nesting bounds the stack);
    // kept so that hostile input can never surface as a different kind of exception.
    throw new NamingParseError(subject, input, parser.position, 'valid input', 'an internal parser error', {
      cause: error,
    });
  }
}

const EOI = -1;
const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const STAR = 0x2a;
const DOT = 0x2e;
const HASH = 0x23;
const NEWLINE = 0x0a;

class Parser {
  readonly #subject: ParseSubject;
  readonly #input: string;
  readonly #params: NamingParseParams;
  readonly #dentriesBefore: number;
  #index = 0;
  #nesting = 0;

  constructor(subject: ParseSubject, input: string, params: NamingParseParams, dentriesBefore: number) {
    this.#subject = subject;
    this.#input = input;
    this.#params = params;
    this.#dentriesBefore = dentriesBefore;
  }

  get position(): number {
    return this.#index;
  }

  #peek(): number {
    return this.#index < this.#input.length ? this.#input.charCodeAt(this.#index) : EOI;
  }

  #illegal(expected: string, found: string, at: number = this.#index): never {
    throw new NamingParseError(this.#subject, this.#input, at, expected, found);
  }

  #maybeEat(code: number): boolean {
    if (this.#peek() !== code) return false;
    this.#index++;
    return true;
  }

  #eat(code: number): void {
    if (!this.#maybeEat(code)) this.#illegal(describeChar(code), describeChar(this.#peek()));
  }

  eatWhitespace(): void {
    for (;;) {
      const c = this.#peek();
      if (c === HASH) {
        while (this.#index < this.#input.length && this.#input.charCodeAt(this.#index) !== NEWLINE) this.#index++;
        if (this.#index < this.#input.length) this.#index++;
      } else if (c !== EOI && isJavaWhitespace(c)) {
        this.#index++;
      } else {
        return;
      }
    }
  }

  ensureEnd(): void {
    if (this.#peek() !== EOI) this.#illegal('end of input', describeChar(this.#peek()));
  }

  #parseLabel(): string {
    let label = '';
    do {
      const c = this.#peek();
      if (c !== EOI && isShowableChar(c)) {
        this.#index++;
        label += String.fromCharCode(c);
      } else if (c === BACKSLASH) {
        this.#index++;
        this.#eat(0x78); // 'x'
        const high = this.#parseHexDigit();
        const low = this.#parseHexDigit();
        label += String.fromCharCode((high << 4) | low);
      } else {
        this.#illegal('label char', describeChar(c));
      }
    } while (isLabelChar(this.#peek()));
    return label;
  }

  #parseHexDigit(): number {
    const c = this.#peek();
    const value = hexValue(c);
    if (value < 0) this.#illegal('hex char', describeChar(c));
    this.#index++;
    return value;
  }

  parsePath(): Path {
    this.eatWhitespace();
    this.#eat(SLASH);
    if (!isLabelChar(this.#peek())) return emptyPath;
    const labels: string[] = [];
    do labels.push(this.#parseLabel());
    while (this.#maybeEat(SLASH));
    return Object.freeze(labels);
  }

  parsePrefix(): Prefix {
    this.eatWhitespace();
    this.#eat(SLASH);
    const c = this.#peek();
    if (!isLabelChar(c) && c !== STAR) return Object.freeze([]);
    const elems: PrefixElem[] = [];
    do {
      if (this.#maybeEat(STAR)) elems.push(anyElem);
      else elems.push(this.#parseLabel());
    } while (this.#maybeEat(SLASH));
    return Object.freeze(elems);
  }

  parseTree(): NameTree<Path> {
    const trees: NameTree<Path>[] = [];
    do {
      trees.push(this.#parseUnion());
      this.eatWhitespace();
    } while (this.#maybeEat(0x7c)); // '|'
    return trees.length > 1 ? alt(...trees) : (trees[0] ?? neg);
  }

  #parseUnion(): NameTree<Path> {
    const trees: Weighted<Path>[] = [];
    do {
      trees.push(this.#parseWeighted());
      this.eatWhitespace();
    } while (this.#maybeEat(0x26)); // '&'
    return trees.length > 1 ? union(...trees) : (trees[0]?.tree ?? neg);
  }

  #parseWeighted(): Weighted<Path> {
    this.eatWhitespace();
    if (!isNumberChar(this.#peek())) return weighted(defaultWeight, this.#parseSimple());
    const weight = this.#parseNumber();
    this.eatWhitespace();
    this.#eat(STAR);
    this.eatWhitespace();
    return weighted(weight, this.#parseSimple());
  }

  #parseNumber(): number {
    const start = this.#index;
    let seenDot = false;
    while (isNumberChar(this.#peek())) {
      if (this.#peek() === DOT) {
        if (seenDot) this.#illegal('number char', describeChar(DOT));
        seenDot = true;
      }
      this.#index++;
    }
    const text = this.#input.slice(start, this.#index);
    if (text === '.') this.#illegal('weight', describeChar(DOT), start);
    const value = Number(text);
    // Finagle would take an overlong number as Infinity; a weight must stay finite to mean anything.
    if (!Number.isFinite(value)) this.#illegal('finite weight', `a number too large (${text.length} digits)`, start);
    return value;
  }

  #parseSimple(): NameTree<Path> {
    this.eatWhitespace();
    const c = this.#peek();
    switch (c) {
      case 0x28: {
        // '('
        if (this.#nesting >= this.#params.maxNesting) {
          this.#illegal(`at most ${this.#params.maxNesting} nested parentheses`, describeChar(c));
        }
        this.#index++;
        this.#nesting++;
        const tree = this.parseTree();
        this.eatWhitespace();
        this.#eat(0x29); // ')'
        this.#nesting--;
        return tree;
      }
      case SLASH:
        return leaf(this.parsePath());
      case 0x21: // '!'
        this.#index++;
        return fail();
      case 0x7e: // '~'
        this.#index++;
        return neg;
      case 0x24: // '$'
        this.#index++;
        return empty;
      default:
        return this.#illegal('simple', describeChar(c));
    }
  }

  parseDentry(): Dentry {
    const prefix = this.parsePrefix();
    this.eatWhitespace();
    this.#eat(0x3d); // '='
    this.#eat(0x3e); // '>'
    return dentry(prefix, this.parseTree());
  }

  parseDtab(): Dtab {
    const entries: Dentry[] = [];
    do {
      this.eatWhitespace();
      if (this.#peek() !== EOI) {
        if (this.#dentriesBefore + entries.length >= this.#params.maxDentries) {
          this.#illegal(`at most ${this.#params.maxDentries} dentries`, 'another dentry');
        }
        entries.push(this.parseDentry());
        this.eatWhitespace();
      }
    } while (this.#maybeEat(0x3b)); // ';'
    return Object.freeze(entries);
  }
}

function isLabelChar(c: number): boolean {
  return c === BACKSLASH || (c !== EOI && isShowableChar(c));
}

// ASCII only: Finagle's `isDigit` admits any Unicode digit and then fails in `toDouble`.
function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === DOT;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** java.lang.Character.isWhitespace for one UTF-16 code unit, which Finagle's parser uses. */
function isJavaWhitespace(c: number): boolean {
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return true;
  if (c < 0x1680) return false;
  // Unicode space, line and paragraph separators, except the no-break spaces.
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a && c !== 0x2007) || c === 0x2028 || c === 0x2029 || c === 0x205f || c === 0x3000;
}

function describeChar(c: number): string {
  if (c === EOI) return 'end of input';
  if (c >= 0x20 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

const excerptRadius = 32;

/** The input around `position` with the offending character in brackets, as Finagle marks it. */
function excerpt(input: string, position: number): string {
  const from = Math.max(0, position - excerptRadius);
  const to = Math.min(input.length, position + 1 + excerptRadius);
  return (
    (from > 0 ? '…' : '') +
    printable(input.slice(from, position)) +
    '[' +
    printable(input.slice(position, position + 1)) +
    ']' +
    printable(input.slice(Math.min(position + 1, to), to)) +
    (to < input.length ? '…' : '')
  );
}

/** Control and non-ASCII characters as \uXXXX, so a hostile header cannot forge log lines. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
