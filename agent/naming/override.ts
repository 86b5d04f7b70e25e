// Per-request routing (Finagle `Dtab.local`, linkerd's `l5d-dtab` header): a dtab that arrives
// with the request is appended to the base, so its entries are tried first and anything it does
// not cover falls back to the base. Whether a caller may send one at all is the proxy's decision
// (linkerd#1011: untrusted callers setting routing headers); this file only reads it safely.
import { type Dtab, dtabConcat } from './dtab.ts';
import { type NamingParseParams, parseDtabPart } from './parse.ts';

/**
 * Header input is hostile until proven otherwise: small bounds. 100 dentries is Finagle's own
 * limit for dtab headers (HttpDtab `Maxsize`).
 */
export const dtabOverrideParams: NamingParseParams = Object.freeze({
  maxLength: 8 * 1024,
  maxNesting: 8,
  maxDentries: 100,
});

/**
 * Reads an override from one header value or several (several are one dtab, in order, as Finagle
 * reads repeated dtab headers). Length and dentry bounds hold for all values together. Throws
 * NamingParseError (WEFT_E_NAMING_PARSE) with the offset inside the offending value.
 */
export function parseDtabOverride(values: string | readonly string[], params: NamingParseParams = dtabOverrideParams): Dtab {
  const list = typeof values === 'string' ? [values] : values;
  const parts: Dtab[] = [];
  let length = 0;
  let dentries = 0;
  for (const value of list) {
    const part = parseDtabPart(value, { length, dentries }, params);
    length += value.length;
    dentries += part.length;
    parts.push(part);
  }
  return dtabConcat(...parts);
}

/** `base ++ override` (Finagle `Dtab.base ++ Dtab.local`): the override's entries win. */
export function withOverride(base: Dtab, override: Dtab): Dtab {
  return dtabConcat(base, override);
}
