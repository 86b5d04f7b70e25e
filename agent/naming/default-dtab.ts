// The dtab weft uses when nobody configured one. It is data, in dtab notation, so an operator can
// print it (`weft explain`), copy it, and replace or extend it without touching code.
// The namer contracts it relies on are in README.md next to this file.
import type { Dtab } from './dtab.ts';
import { parseDtab } from './parse.ts';

/** Prefix of the Kubernetes Service namer: `/#/k8s/<namespace>/<port>/<service>` (see k8s-namers.ts). */
export const k8sNamerPrefix = Object.freeze(['#', 'k8s']);
/** Prefix of the cluster-IP namer: `/#/k8s-ip/<ip>/<port>` to that Service's `/svc/…` name. */
export const k8sClusterIpNamerPrefix = Object.freeze(['#', 'k8s-ip']);

export const defaultDtabText = `# weft zero-config dtab. Later entries are tried first.
# A request is named /svc/<namespace>/<service>/<port> (from Host or :authority) or, failing
# that, /dst/<ip>/<port> (where the application connected); see logical-name.ts.

# A Service by name: the Kubernetes namer finds its endpoints (and binds /#/k8s/<ns>/<port>/<svc>).
/svc => /#/k8s;

# An address that is no Service: let the connection go where the application sent it.
/dst => /$/inet;

# An address that is a Service's cluster IP: named as that Service, so /svc overrides apply.
# The namer answers neg for any other address, which falls back to the entry above.
/dst => /#/k8s-ip;
`;

export const defaultDtab: Dtab = parseDtab(defaultDtabText);
