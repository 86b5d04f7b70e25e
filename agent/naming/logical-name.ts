// Where a request's name comes from: its Host / :authority, or the address the application
// connected to (the original destination recorded by the connect4 hook). Both become paths that
// the dtab then interprets, so all policy lives in the dtab, which is data:
//
//   users.prod.svc.cluster.local:8080   ->  /svc/prod/users/8080
//   users.prod.svc:8080, users.prod     ->  /svc/prod/users/<port>
//   users (from a pod in namespace prod) ->  /svc/prod/users/<port>
//   10.96.0.10:80 (original destination) ->  /dst/10.96.0.10/80
//
// These follow the Kubernetes DNS schema `<service>.<namespace>.svc.<cluster domain>` and the
// pod resolver's search list (`<ns>.svc.<domain>`, `svc.<domain>`), which is how an application
// reaches a Service by a short name. Service before port, so one dentry can redirect a service
// on every port: `/svc/prod/users => /svc/prod/users-v2`.
import { isIP } from 'node:net';
import { type NameTree, alt, leaf } from './name-tree.ts';
import { type Path, pathOf } from './path.ts';

export const serviceRoot = 'svc';
export const destinationRoot = 'dst';

export interface LogicalNameParams {
  /** The cluster's DNS domain (kubelet `--cluster-domain`). */
  readonly clusterDomain: string;
}

export const logicalNameParams: LogicalNameParams = Object.freeze({ clusterDomain: 'cluster.local' });

export interface AuthorityContext {
  /** Namespace of the calling pod, for one-label hosts; without it those have no name. */
  readonly namespace?: string | undefined;
  /** Port to use when the authority has none (the scheme's, or the original destination's). */
  readonly defaultPort: number;
}

export interface OriginalDestination {
  /** IPv4 or IPv6 address in text form, as the intercept layer reports it. */
  readonly address: string;
  readonly port: number;
}

// RFC 1123 label, lower case: what Kubernetes requires of namespace and Service names.
const dnsLabel = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `/svc/<namespace>/<service>/<port>` for an authority that names a Kubernetes Service, else
 * undefined: IP literals (the original destination covers them), names outside the cluster
 * domain, anything malformed (userinfo, spaces, bad port). Hosts are compared case-insensitively.
 */
export function authorityPath(
  authority: string,
  context: AuthorityContext,
  params: LogicalNameParams = logicalNameParams,
): Path | undefined {
  const split = splitAuthority(authority);
  if (split === undefined) return undefined;
  let host = split.host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1); // absolute form `users.prod.svc.cluster.local.`
  if (host.length === 0 || isIP(host) !== 0) return undefined;
  const labels = host.split('.');
  if (!labels.every((label) => dnsLabel.test(label))) return undefined;

  const domain = params.clusterDomain.toLowerCase().split('.').filter((l) => l.length > 0);
  let service: string | undefined;
  let namespace: string | undefined;
  if (labels.length === 1) {
    service = labels[0];
    namespace = context.namespace;
  } else if (
    labels.length === 2 ||
    (labels.length === 3 && labels[2] === 'svc') ||
    (labels.length === 3 + domain.length && labels[2] === 'svc' && domain.every((l, i) => labels[3 + i] === l))
  ) {
    service = labels[0];
    namespace = labels[1];
  }
  if (service === undefined || namespace === undefined || !dnsLabel.test(namespace)) return undefined;

  const port = split.port ?? context.defaultPort;
  if (!isPortNumber(port)) return undefined;
  return pathOf(serviceRoot, namespace, service, String(port));
}

/** `/dst/<ip>/<port>`, or undefined when the address is not an IP or the port is out of range. */
export function originalDestinationPath(destination: OriginalDestination): Path | undefined {
  if (isIP(destination.address) === 0 || !isPortNumber(destination.port)) return undefined;
  return pathOf(destinationRoot, destination.address, String(destination.port));
}

export interface RequestNameInput extends AuthorityContext {
  readonly authority?: string | undefined;
  readonly originalDestination?: OriginalDestination | undefined;
}

/**
 * The names a request may go by, best first, as an Alt: the authority's Service name, then the
 * original destination. When the first binds negatively (no such Service), the second is tried,
 * so traffic to a name that is not a Service still goes where the application sent it.
 */
export function requestNameTree(
  input: RequestNameInput,
  params: LogicalNameParams = logicalNameParams,
): NameTree<Path> | undefined {
  const byAuthority = input.authority === undefined ? undefined : authorityPath(input.authority, input, params);
  const byDestination =
    input.originalDestination === undefined ? undefined : originalDestinationPath(input.originalDestination);
  if (byAuthority !== undefined && byDestination !== undefined) return alt(leaf(byAuthority), leaf(byDestination));
  if (byAuthority !== undefined) return leaf(byAuthority);
  if (byDestination !== undefined) return leaf(byDestination);
  return undefined;
}

function splitAuthority(authority: string): { host: string; port: number | undefined } | undefined {
  // No userinfo (RFC 9110 forbids it in Host, RFC 9113 in :authority), no spaces, no IPv6 literal.
  if (authority.length === 0 || authority.length > 255 + 6 || /[\s@[\]/?#]/.test(authority)) return undefined;
  const colon = authority.indexOf(':');
  if (colon < 0) return { host: authority, port: undefined };
  if (authority.indexOf(':', colon + 1) >= 0) return undefined;
  const portText = authority.slice(colon + 1);
  if (portText.length === 0) return { host: authority.slice(0, colon), port: undefined }; // RFC 3986: empty port
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  return { host: authority.slice(0, colon), port: Number(portText) };
}

function isPortNumber(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}
