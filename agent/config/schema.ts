// The agent's configuration: one zod schema that is both the validator and the source of defaults.
// Zero-config is the rule: every field may be left out of the input and comes back filled in, so
// `weft agent` with no file and no env runs with the values below. Every message says what is
// allowed, because the reader is an operator looking at a crash-looping DaemonSet, not a developer.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { isAbsolute, posix } from 'node:path';
import { z } from 'zod';
import { advisoryParams } from '../discovery/advisory.ts';
import { parseDtab } from '../naming/parse.ts';
import { proxySchema } from './proxy.ts';
import { telemetrySchema } from './telemetry.ts';
import { port, section, wholeNumber } from './rules.ts';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

const absolutePathRule = 'must be an absolute path (starting with "/")';

/** Absolute, normalised (no `..`, no trailing slash), so paths compare and join predictably. */
function absolutePath(): z.ZodPipe<z.ZodString, z.ZodTransform<string, string>> {
  return z
    .string({ error: absolutePathRule })
    .refine((value) => isAbsolute(value) && !value.includes('\0'), { error: absolutePathRule })
    .transform(normalisePath);
}

function normalisePath(value: string): string {
  const normal = posix.normalize(value);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

// Kubernetes node names are RFC 1123 subdomains; the agent matches pods by `spec.nodeName`, so a
// name that could never appear there is a mistake worth stopping at.
const nodeNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const nodeNameRule = 'must be a Kubernetes node name: lowercase letters, digits, "-" and ".", at most 253 characters';

// A name (or nested names) under bpffs. Not a path of its own: pins must stay under bpf.bpffs so
// a stale-pin sweep never walks outside it.
const pinDirPattern = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$/;
const pinDirRule = 'must be a relative directory name under bpf.bpffs (letters, digits, ".", "_", "-", "/" between names; no "..")';

const podsRootRule = 'must be "auto" (find kubepods.slice or kubepods under the cgroup2 mount) or an absolute path';

// Cross-field rules run even when another field already failed (`when`), so one run lists every
// problem. Their inputs may then be of the wrong type, hence the guards.
const always = { when: () => true };
const isPort = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;

const nodeSchema = section({
  name: z
    .string({ error: nodeNameRule })
    .max(253, { error: nodeNameRule })
    .regex(nodeNamePattern, { error: nodeNameRule })
    // kubelet lowercases the hostname for the node name; do the same so the default matches it.
    .prefault(() => hostname().toLowerCase()),
});

const cgroupSchema = section({
  podsRoot: z
    .string({ error: podsRootRule })
    .refine((value) => value === 'auto' || (isAbsolute(value) && !value.includes('\0')), { error: podsRootRule })
    .transform((value) => (value === 'auto' ? value : normalisePath(value)))
    .prefault('auto'),
});

const bpfSchema = section({
  bpffs: absolutePath().prefault('/sys/fs/bpf'),
  pinDir: z
    .string({ error: pinDirRule })
    .max(200, { error: pinDirRule })
    .regex(pinDirPattern, { error: pinDirRule })
    .refine((value) => !value.split('/').some((part) => part === '.' || part === '..'), { error: pinDirRule })
    .prefault('weft'),
  heartbeatIntervalMs: wholeNumber(10, 10_000, 'milliseconds').prefault(200),
  heartbeatTimeoutMs: wholeNumber(20, 60_000, 'milliseconds').prefault(1000),
}).refine(
  // connect4 treats a heartbeat older than the timeout as "agent gone" and stops capturing; with
  // less than two beats of margin one late timer tick would make capture flap.
  (bpf) => typeof bpf.heartbeatIntervalMs !== 'number' || typeof bpf.heartbeatTimeoutMs !== 'number' || bpf.heartbeatTimeoutMs > 2 * bpf.heartbeatIntervalMs,
  { ...always, path: ['heartbeatTimeoutMs'], error: 'must be more than twice bpf.heartbeatIntervalMs, so one late heartbeat does not turn capture off' },
);

const captureSchema = section({
  outboundPort: port().prefault(4140),
  inboundPort: port().prefault(4143),
  excludedPorts: z
    .array(port(), { error: 'must be a list of port numbers (1 to 65535)' })
    .max(64, { error: 'must list at most 64 ports' })
    .refine((ports) => new Set(ports).size === ports.length, { error: 'must not list a port twice' })
    .prefault([]),
  captureV6: z.boolean({ error: 'must be true or false' }).prefault(true),
}, { detectTimeoutMs: 'proxy.detect.timeoutMs' }).refine((capture) => !(isPort(capture.outboundPort) && capture.outboundPort === capture.inboundPort), {
  ...always,
  path: ['inboundPort'],
  error: 'must differ from capture.outboundPort: both listen in every meshed pod',
});

const optionalFile = section({ file: absolutePath().optional() });

// Advisory discovery (discovery/advisory.ts): what a sudden empty or collapsing answer does. The
// defaults are the advisory layer's own (advisoryParams), not restated here.
const discoverySchema = section({
  file: absolutePath().optional(),
  advisory: section({
    keepLastGoodOnEmpty: z.boolean({ error: 'must be true or false' }).prefault(advisoryParams.keepLastGoodOnEmpty),
    confirmEmptyMs: wholeNumber(0, 3_600_000, 'milliseconds', '0: an empty answer is served at once').prefault(advisoryParams.confirmEmptyMs),
    panicThresholdPercent: wholeNumber(0, 100, 'percent', '0: no sudden-drop hold').prefault(advisoryParams.panicThresholdPercent),
  }).prefault({}),
});

const adminSchema = section({
  address: z
    .string({ error: 'must be an IP address, such as 127.0.0.1 or ::1' })
    .refine((value) => isIP(value) !== 0, { error: 'must be an IP address, such as 127.0.0.1 or ::1' })
    .prefault('127.0.0.1'),
  // 0 asks the kernel for a free port: for tests and demos that run several agents at once.
  port: z
    .int({ error: 'must be a whole number from 0 to 65535 (0: any free port)' })
    .min(0, { error: 'must be a whole number from 0 to 65535 (0: any free port)' })
    .max(65535, { error: 'must be a whole number from 0 to 65535 (0: any free port)' })
    .prefault(4191),
  allowRemote: z.boolean({ error: 'must be true or false' }).prefault(false),
}).refine((admin) => typeof admin.address !== 'string' || isIP(admin.address) === 0 || isLoopback(admin.address) || admin.allowRemote === true, {
  ...always,
  path: ['address'],
  error: 'is not a loopback address: the admin port would be reachable from pods; use 127.0.0.1 or ::1, or set admin.allowRemote: true if that is intended',
});

export function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address) || /^::ffff:127\./i.test(address);
}

// Dentries added after the default dtab (naming/default-dtab.ts), so they are tried first: a
// canary split or a rename is one line, and whatever they do not cover keeps the zero-config
// routing. Parsed here, so a bad dtab stops the agent at start with the parser's position.
const namingSchema = section({
  dtab: z
    .string({ error: 'must be a dtab in Finagle notation, such as "/svc/shop/web => 0.9*/svc/shop/web & 0.1*/svc/shop/web-v2;"' })
    .superRefine((text, ctx) => {
      try {
        parseDtab(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', input: text, message: `is not a dtab: ${error instanceof Error ? error.message : String(error)}` });
      }
    })
    .prefault(''),
});

const logSchema = section({
  level: z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }).prefault('info'),
});

export const configSchema = section({
  node: nodeSchema.prefault({}),
  cgroup: cgroupSchema.prefault({}),
  bpf: bpfSchema.prefault({}),
  capture: captureSchema.prefault({}),
  inventory: optionalFile.prefault({}),
  discovery: discoverySchema.prefault({}),
  admin: adminSchema.prefault({}),
  log: logSchema.prefault({}),
  proxy: proxySchema.prefault({}),
  naming: namingSchema.prefault({}),
  telemetry: telemetrySchema.prefault({}),
})
  // The admin server and the capture listeners share the host netns when the agent falls back to
  // host-netns listeners, so a shared port would fail to bind only on those hosts.
  .refine((config) => !samePort(config.admin?.port, config.capture?.outboundPort), {
    ...always,
    path: ['admin', 'port'],
    error: 'must differ from capture.outboundPort',
  })
  .refine((config) => !samePort(config.admin?.port, config.capture?.inboundPort), {
    ...always,
    path: ['admin', 'port'],
    error: 'must differ from capture.inboundPort',
  });

function samePort(a: unknown, b: unknown): boolean {
  return isPort(a) && a === b;
}

/** The fully resolved configuration: every field present. */
export type WeftConfig = z.output<typeof configSchema>;
/** What a file or caller may give: every field optional. */
export type WeftConfigInput = z.input<typeof configSchema>;

/** Where the pins live: `<bpffs>/<pinDir>`. */
export function bpfPinPath(bpf: WeftConfig['bpf']): string {
  return posix.join(bpf.bpffs, bpf.pinDir);
}
