// Names of everything the lab makes. Every network namespace, cgroup directory and pin of one lab
// starts with the lab's prefix, so a crashed run's leftovers can be found by name alone and removed.
import { randomBytes } from 'node:crypto';
import { WeftError } from '../errors.ts';

/** Lower-case DNS label (RFC 1123), the shape of Kubernetes namespace and node names. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Long enough to stay unique, short enough that `<prefix>-<name>` stays readable in `ip netns`. */
export const MAX_PREFIX_LENGTH = 40;
export const MAX_NAME_LENGTH = 40;
/** Netns name suffixes the lab uses for itself; nodes and pods may not take them. */
export const RESERVED_NAMES: readonly string[] = ['fabric'];

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A fresh prefix such as `weft-t1a2b3c`: `base` plus 6 random hex digits. */
export function newPrefix(base = 'weft-t'): string {
  return checkPrefix(`${base}${randomHex(3)}`);
}

/** Returns `prefix` if it is a DNS label that starts with `weft-`, else throws WEFT_E_LAB_NAME. */
export function checkPrefix(prefix: string): string {
  // The `weft-` start is what keeps a sweep by prefix away from anything that is not ours.
  if (!prefix.startsWith('weft-') || prefix.length > MAX_PREFIX_LENGTH || !LABEL.test(prefix)) {
    throw new WeftError(
      'WEFT_E_LAB_NAME',
      `bad lab prefix ${JSON.stringify(prefix)}: it must start with "weft-", use only a-z, 0-9 and "-", ` +
        `and be at most ${MAX_PREFIX_LENGTH} characters (e.g. "weft-t1a2b3c")`,
    );
  }
  return prefix;
}

/** Returns `name` if it can name a node, pod or namespace in the lab, else throws WEFT_E_LAB_NAME. */
export function checkName(kind: string, name: string): string {
  if (name.length > MAX_NAME_LENGTH || !LABEL.test(name)) {
    throw new WeftError(
      'WEFT_E_LAB_NAME',
      `bad ${kind} name ${JSON.stringify(name)}: use a DNS label (a-z, 0-9, "-", at most ` +
        `${MAX_NAME_LENGTH} characters, starting and ending with a letter or digit)`,
    );
  }
  return name;
}

/** The network namespace of a node or pod: `<prefix>-<name>`. */
export function netnsName(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

/** Where `ip netns` keeps a named namespace. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/**
 * Whether a netns, cgroup directory or pin name belongs to `prefix`: equal to it, or the prefix
 * followed by a separator. A bare `startsWith` would let run `weft-t1` claim run `weft-t12`'s things.
 */
export function belongsToPrefix(name: string, prefix: string): boolean {
  if (!name.startsWith(prefix)) return false;
  const rest = name.slice(prefix.length);
  return rest === '' || rest.startsWith('-') || rest.startsWith('_') || rest.startsWith('.');
}
