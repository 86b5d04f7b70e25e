// A kubeconfig for the fake API server: plain http, no auth, one context. The real client loads it
// the way an operator's would (KUBECONFIG or KubeConfig.loadFromFile), so the loading path is tested too.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export function kubeconfigText(server: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // client-node 2.x refuses plain http unless TLS verification is explicitly off for the cluster.
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'nobody', user: {} }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'nobody' } }],
    'current-context': 'fake',
  });
}

export interface WrittenKubeconfig {
  readonly path: string;
  remove(): void;
}

/** Writes a kubeconfig for `server` into a new temp dir. */
export function writeKubeconfig(server: string): WrittenKubeconfig {
  const dir = mkdtempSync(join(tmpdir(), 'weft-kubeconfig-'));
  const path = join(dir, 'config');
  writeFileSync(path, kubeconfigText(server));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A KubeConfig for `server`, loaded from a written file as the agent would load it. */
export function kubeConfigFor(server: string): KubeConfig {
  const written = writeKubeconfig(server);
  try {
    const config = new KubeConfig();
    config.loadFromFile(written.path);
    return config;
  } finally {
    written.remove();
  }
}
