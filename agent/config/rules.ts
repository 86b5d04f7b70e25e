// Building blocks of the configuration schema, shared by its sections: strict mappings whose
// unknown keys name the allowed ones (and the nearest, or where a setting moved), and number
// rules whose messages say the range. Every message is written for an operator, not a developer.
import { z } from 'zod';

const portRule = 'must be a whole number from 1 to 65535';

export function port(): z.ZodInt {
  return z.int({ error: portRule }).min(1, { error: portRule }).max(65535, { error: portRule });
}

/** A whole number in `min..max`; `note` says what a special value means ("0: no timeout"). */
export function wholeNumber(min: number, max: number, unit: string, note?: string): z.ZodInt {
  const rule = `must be a whole number of ${unit} from ${min} to ${max}${note === undefined ? '' : ` (${note})`}`;
  return z.int({ error: rule }).min(min, { error: rule }).max(max, { error: rule });
}

/** A number (not necessarily whole) in `min..max`, or above `min` when `exclusiveMin`. */
export function decimal(min: number, max: number, options: { readonly exclusiveMin?: boolean; readonly note?: string } = {}): z.ZodNumber {
  const low = options.exclusiveMin === true ? `more than ${min}` : `from ${min}`;
  const rule = `must be a number ${low} up to ${max}${options.note === undefined ? '' : ` (${options.note})`}`;
  const base = z.number({ error: rule }).max(max, { error: rule });
  return options.exclusiveMin === true ? base.gt(min, { error: rule }) : base.min(min, { error: rule });
}

/** Settings that used to live at a key of this section, with where they live now. */
export type MovedKeys = Readonly<Record<string, string>>;

/**
 * A strict object whose unknown keys are reported with the keys allowed there (and the nearest
 * one), since a typo such as `admin.prot` would otherwise be silently ignored. A key in `moved`
 * says where that setting went instead, so an old config fails once with the fix in the message.
 */
export function section<Shape extends z.ZodRawShape>(shape: Shape, moved: MovedKeys = {}): z.ZodObject<Shape, z.core.$strict> {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return unknownKeyMessage(issue.keys, allowed, moved);
      return `must be a mapping of settings (allowed keys: ${allowed.join(', ')})`;
    },
  });
}

function unknownKeyMessage(keys: readonly string[], allowed: readonly string[], moved: MovedKeys): string {
  const movedHere = keys.filter((key) => Object.hasOwn(moved, key));
  if (movedHere.length > 0) return movedHere.map((key) => `"${key}" moved to ${moved[key] ?? '?'} (same meaning and range); set it there`).join('; ');
  const hints = keys.map((key) => nearest(key, allowed)).filter((hint): hint is string => hint !== undefined);
  const hint = hints.length === 0 ? '' : `; did you mean ${hints.map((h) => `"${h}"`).join(', ')}?`;
  return `unknown setting (allowed here: ${allowed.join(', ')})${hint}`;
}

/** The allowed key within edit distance 2 of `key`, if any. */
function nearest(key: string, allowed: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
