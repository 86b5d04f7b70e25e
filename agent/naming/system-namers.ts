// System paths that need no outside source: `/$/inet/<host>/<port>` and `/$/inet/<port>`, as
// Finagle's Namer.global reads them (Namer.scala, InetPath): the name of an address, bound as is.
// Resolving the host (DNS) is discovery's job; binding only decides which address is meant.
// (`/$/nil` and `/$/fail` are built into bind.ts, as they are into Finagle's global namer.)
import type { Namer, NamerEntry, Namers } from './bind.ts';
import { pathDrop, pathTake } from './path.ts';

export const inetPrefix = Object.freeze(['$', 'inet']);

/**
 * `/<host>/<port>/rest…` binds id `/$/inet/<host>/<port>` with residual `/rest…`; `/<port>/rest…`
 * binds id `/$/inet/<port>` (no host: localhost). The host form is tried first, as in Finagle, so
 * `/$/inet/1234/foobar` is port 1234 with residual `/foobar`.
 */
export const inetNamer: Namer = (path) => {
  if (path.length >= 2 && isPort(path[1])) {
    return { kind: 'bound', id: pathTake(path, 2), residual: pathDrop(path, 2) };
  }
  if (path.length >= 1 && isPort(path[0])) {
    return { kind: 'bound', id: pathTake(path, 1), residual: pathDrop(path, 1) };
  }
  return { kind: 'fail', reason: '/$/inet needs /<host>/<port> or /<port>, with a port 0-65535' };
};

export const inetNamerEntry: NamerEntry = Object.freeze({ prefix: inetPrefix, namer: inetNamer });

/** The system namers weft always has; the Kubernetes, DNS and file namers are added beside them. */
export const systemNamers: Namers = Object.freeze([inetNamerEntry]);

// Finagle accepts anything `toInt` reads ("+80", "-1"); a port here is 1-5 decimal digits <= 65535.
function isPort(segment: string | undefined): boolean {
  return segment !== undefined && /^[0-9]{1,5}$/.test(segment) && Number(segment) <= 65535;
}
