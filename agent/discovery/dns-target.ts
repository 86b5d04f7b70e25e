// What the DNS source is asked for, and how a host name is checked and compared. Pure (no node:dns),
// so the namer in ../naming/ can share it without pulling in I/O.
//
// Not (yet) a member of `DiscoveryTarget` in types.ts: the DNS source takes both, and answers
// `unknown` for Service and cluster-IP targets.

export type DnsTarget =
  /** A and AAAA records of `name` (the families in the source's params), every address at `port`. */
  | { readonly kind: 'dns'; readonly name: string; readonly port: number }
  /** SRV records of `name` (e.g. `_http._tcp.web.example.com`): each target's addresses at its port. */
  | { readonly kind: 'dns-srv'; readonly name: string };

const label = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**
 * A name as DNS compares it: lower case, no trailing dot; undefined when it is no host name (labels of
 * 1-63 letters, digits, `-` and `_`, not starting or ending with `-`; at most 253 characters).
 * Names are absolute: no search list is applied.
 */
export function normaliseDnsName(name: string): string | undefined {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return undefined;
  return bare.split('.').every((part) => label.test(part)) ? bare.toLowerCase() : undefined;
}

/** A port a `dns` target may name: an integer 1-65535. */
export function isDnsPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** What a target is, in words, for reasons and messages. */
export function describeDnsTarget(target: DnsTarget): string {
  return target.kind === 'dns' ? `DNS name ${target.name} port ${target.port}` : `DNS SRV ${target.name}`;
}
