// Helpers for body tests.
import type { FieldSpec } from './arbitraries.ts';

/** Field lines as a trailer section holds them (each ending CRLF). */
export function serializeTrailers(fields: readonly FieldSpec[]): Buffer {
  return Buffer.from(fields.map((f) => `${f.name}:${f.before}${f.value}${f.after}\r\n`).join(''), 'latin1');
}
