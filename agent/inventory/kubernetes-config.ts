// Where the agent finds the API server: in a pod (the DaemonSet) the service account and
// KUBERNETES_SERVICE_HOST; on a workstation or in the lab a kubeconfig (KUBECONFIG, ~/.kube/config,
// or a path given). Shared by the inventory and discovery sources.
import { KubeConfig } from '@kubernetes/client-node';
import { describeError, WeftError } from '../errors.ts';

export interface KubeConfigOptions {
  /** A kubeconfig file; otherwise KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  readonly kubeconfigPath?: string | undefined;
  /** Use the pod's service account only (what the DaemonSet does), ignoring any kubeconfig. */
  readonly inCluster?: boolean | undefined;
}

/** Loads a KubeConfig, or throws WEFT_E_INVENTORY_K8S_CONFIG saying what was tried. */
export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfig {
  const config = new KubeConfig();
  const from = options.inCluster === true ? 'the in-cluster service account' : (options.kubeconfigPath ?? 'KUBECONFIG, ~/.kube/config or the in-cluster service account');
  if (options.inCluster === true && (process.env['KUBERNETES_SERVICE_HOST'] === undefined || process.env['KUBERNETES_SERVICE_PORT'] === undefined)) {
    // The client would build `https://undefined:undefined` from the missing variables and fail later, vaguely.
    throw new WeftError(
      'WEFT_E_INVENTORY_K8S_CONFIG',
      'in-cluster Kubernetes configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (set by the kubelet in a pod); outside a pod, use a kubeconfig (KUBECONFIG)',
    );
  }
  try {
    if (options.inCluster === true) config.loadFromCluster();
    else if (options.kubeconfigPath !== undefined) config.loadFromFile(options.kubeconfigPath);
    else config.loadFromDefault();
  } catch (cause) {
    throw new WeftError('WEFT_E_INVENTORY_K8S_CONFIG', `cannot load Kubernetes client configuration from ${from}: ${describeError(cause)}`, { cause });
  }
  const cluster = config.getCurrentCluster();
  if (cluster === null || cluster.server === '' || cluster.server.includes('undefined')) {
    throw new WeftError(
      'WEFT_E_INVENTORY_K8S_CONFIG',
      `no Kubernetes API server found in ${from}; set KUBECONFIG, or run in a pod with a service account (KUBERNETES_SERVICE_HOST)`,
    );
  }
  return config;
}

/** `kubernetes:https://10.96.0.1:443`: a source's id. */
export function kubernetesSourceId(config: KubeConfig): string {
  return `kubernetes:${config.getCurrentCluster()?.server ?? 'unknown'}`;
}
