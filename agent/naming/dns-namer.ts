// Namers over the DNS discovery source (../discovery/dns-source.ts), as Finagle's `/$/inet` binds a
// host name and linkerd 1's `io.l5d.dnssrv` binds an SRV name:
//
//   /#/dns/<name>/<port>[/rest]   A and AAAA records of <name>, every address at <port>
//   /#/dns-srv/<srv-name>[/rest]  SRV records of <srv-name>, e.g. /#/dns-srv/_http._tcp.web.example.com
//
// Both bind at once (id `/<name>/<port>` or `/<srv-name>`, lower case, no trailing dot; the rest as
// residual): endpoints come later, by watching the bound name's target (`dnsTargetOfBoundName`) on
// the source. The one answer they take from the source is "no such name": a name the source follows
// and believes NXDOMAIN/NODATA for answers `neg`, so a dtab's fall-back (`|`) applies. Asking never
// makes the source follow a name, since paths may come from a request's override header.
// A path that cannot be a DNS target (no port, a bad name) fails, as `/$/inet` does.
import type { DnsTarget } from '../discovery/dns-target.ts';
import { isDnsPort, normaliseDnsName } from '../discovery/dns-target.ts';
import type { Namer, NamerEntry, Namers } from './bind.ts';
import type { Path } from './path.ts';
import { pathDrop, pathStartsWith } from './path.ts';

export const dnsNamerPrefix = Object.freeze(['#', 'dns']);
export const dnsSrvNamerPrefix = Object.freeze(['#', 'dns-srv']);

/** What the namers need of the DNS source (DnsDiscoverySource has it). */
export interface DnsNamerSource {
  isAbsent(target: DnsTarget): boolean;
}

/** `/<name>/<port>/rest…` → bound id `/<name>/<port>`, residual `/rest…`; `neg` when the name is known absent. */
export function dnsNamer(source: DnsNamerSource): Namer {
  return (path) => {
    const target = addressTarget(path);
    if (target === undefined) return { kind: 'fail', reason: '/#/dns needs /<host name>/<port>, with a port 1-65535' };
    if (source.isAbsent(target)) return { kind: 'neg' };
    return { kind: 'bound', id: [target.name, String(target.port)], residual: pathDrop(path, 2) };
  };
}

/** `/<srv-name>/rest…` → bound id `/<srv-name>`, residual `/rest…`; `neg` when the name is known absent. */
export function dnsSrvNamer(source: DnsNamerSource): Namer {
  return (path) => {
    const target = srvTarget(path);
    if (target === undefined) return { kind: 'fail', reason: '/#/dns-srv needs /<SRV name>, e.g. /_http._tcp.web.example.com' };
    if (source.isAbsent(target)) return { kind: 'neg' };
    return { kind: 'bound', id: [target.name], residual: pathDrop(path, 1) };
  };
}

/** Both namers, to add beside the system namers. */
export function dnsNamers(source: DnsNamerSource): Namers {
  const entries: NamerEntry[] = [
    { prefix: dnsNamerPrefix, namer: dnsNamer(source) },
    { prefix: dnsSrvNamerPrefix, namer: dnsSrvNamer(source) },
  ];
  return Object.freeze(entries);
}

/** The DNS target a bound name's id stands for (`/#/dns/web.example.com/80`), or undefined if none. */
export function dnsTargetOfBoundName(id: Path): DnsTarget | undefined {
  if (pathStartsWith(id, dnsSrvNamerPrefix) && id.length === dnsSrvNamerPrefix.length + 1) return srvTarget(pathDrop(id, dnsSrvNamerPrefix.length));
  if (pathStartsWith(id, dnsNamerPrefix) && id.length === dnsNamerPrefix.length + 2) return addressTarget(pathDrop(id, dnsNamerPrefix.length));
  return undefined;
}

function addressTarget(path: Path): Extract<DnsTarget, { kind: 'dns' }> | undefined {
  const [nameSegment, portSegment] = path;
  if (nameSegment === undefined || portSegment === undefined || !/^[0-9]{1,5}$/.test(portSegment)) return undefined;
  const name = normaliseDnsName(nameSegment);
  const port = Number(portSegment);
  return name === undefined || !isDnsPort(port) ? undefined : { kind: 'dns', name, port };
}

function srvTarget(path: Path): Extract<DnsTarget, { kind: 'dns-srv' }> | undefined {
  const [nameSegment] = path;
  const name = nameSegment === undefined ? undefined : normaliseDnsName(nameSegment);
  return name === undefined ? undefined : { kind: 'dns-srv', name };
}
