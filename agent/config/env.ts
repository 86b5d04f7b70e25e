// Environment overrides: the DaemonSet way to vary one setting per node or per cluster without a
// ConfigMap. Each variable maps to one config path. Values are converted to the type the schema
// expects only when they clearly are of it; anything else is passed through as text so the schema
// reports it with the variable's name and what is allowed, instead of this file guessing.

export type EnvKind = 'string' | 'integer' | 'boolean' | 'integer-list';

export interface EnvOverride {
  readonly variable: string;
  readonly path: readonly string[];
  readonly kind: EnvKind;
}

/** Variables that override the file (later rows do not depend on earlier ones). */
export const envOverrides: readonly EnvOverride[] = [
  { variable: 'WEFT_NODE_NAME', path: ['node', 'name'], kind: 'string' },
  { variable: 'WEFT_PODS_CGROUP', path: ['cgroup', 'podsRoot'], kind: 'string' },
  { variable: 'WEFT_BPFFS', path: ['bpf', 'bpffs'], kind: 'string' },
  { variable: 'WEFT_BPF_PIN_DIR', path: ['bpf', 'pinDir'], kind: 'string' },
  { variable: 'WEFT_OUTBOUND_PORT', path: ['capture', 'outboundPort'], kind: 'integer' },
  { variable: 'WEFT_INBOUND_PORT', path: ['capture', 'inboundPort'], kind: 'integer' },
  { variable: 'WEFT_EXCLUDED_PORTS', path: ['capture', 'excludedPorts'], kind: 'integer-list' },
  { variable: 'WEFT_CAPTURE_V6', path: ['capture', 'captureV6'], kind: 'boolean' },
  { variable: 'WEFT_INVENTORY_FILE', path: ['inventory', 'file'], kind: 'string' },
  { variable: 'WEFT_DISCOVERY_FILE', path: ['discovery', 'file'], kind: 'string' },
  { variable: 'WEFT_ADMIN_ADDRESS', path: ['admin', 'address'], kind: 'string' },
  { variable: 'WEFT_ADMIN_PORT', path: ['admin', 'port'], kind: 'integer' },
  { variable: 'WEFT_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { variable: 'WEFT_DETECT_TIMEOUT_MS', path: ['proxy', 'detect', 'timeoutMs'], kind: 'integer' },
  { variable: 'WEFT_SERVER_FIRST_PORTS', path: ['proxy', 'detect', 'serverFirstPorts'], kind: 'integer-list' },
  { variable: 'WEFT_ROUTE_TIMEOUT_MS', path: ['proxy', 'route', 'timeoutMs'], kind: 'integer' },
  { variable: 'WEFT_RETRY_LIMIT', path: ['proxy', 'route', 'retry', 'limit'], kind: 'integer' },
  { variable: 'WEFT_OTLP_ENDPOINT', path: ['telemetry', 'tracing', 'endpoint'], kind: 'string' },
];

/**
 * Variables that only fill in a default: the file wins over them. NODE_NAME is what a DaemonSet
 * usually sets from the downward API (`spec.nodeName`); WEFT_NODE_NAME is the explicit override.
 */
export const envDefaults: readonly EnvOverride[] = [{ variable: 'NODE_NAME', path: ['node', 'name'], kind: 'string' }];

/** The variable naming the config file when `--config` is not given. */
export const configFileVariable = 'WEFT_CONFIG';

export type Env = Readonly<Record<string, string | undefined>>;

/** An env value as the schema's type when it clearly is one, else the text (an empty value is unset). */
export function convertEnvValue(kind: EnvKind, raw: string): unknown {
  const text = raw.trim();
  switch (kind) {
    case 'string':
      return text;
    case 'integer':
      return /^\d{1,9}$/.test(text) ? Number(text) : text;
    case 'boolean': {
      const lower = text.toLowerCase();
      if (lower === 'true' || lower === '1' || lower === 'yes') return true;
      if (lower === 'false' || lower === '0' || lower === 'no') return false;
      return text;
    }
    case 'integer-list':
      return text
        .split(/[\s,]+/)
        .filter((part) => part !== '')
        .map((part) => convertEnvValue('integer', part));
  }
}

/** The value of `variable` in `env`, treating empty as unset (a blank `env:` entry means "not set"). */
export function envValue(env: Env, variable: string): string | undefined {
  const value = env[variable];
  return value === undefined || value.trim() === '' ? undefined : value;
}
