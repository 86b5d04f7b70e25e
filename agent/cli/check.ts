// `weft check`: runs the host checks and prints each as PASS/FAIL with its fix, then a summary;
// exit 1 if any failed. `--json` prints the same for machines. The kernel-feature probe lives in
// the native addon behind agent/intercept/, so it is loaded here, at the edge, and a missing addon
// is one failed check ("addon not built"), not a crash of the whole command.
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { describeError, WeftError } from '../errors.ts';
import type { WeftConfig } from '../config/schema.ts';
import { procPaths, runHostChecks, systemCheckDeps } from '../host/checks.ts';
import { mountAt, parseMounts } from '../host/mounts.ts';
import type { CheckResult, HostCheckDeps, KernelFeatureProbe, KernelProbeOutcome } from '../host/checks.ts';
import { collectHostFacts } from '../host/facts.ts';
import type { HostFacts } from '../host/facts.ts';
import type { CliIo } from './main.ts';

export interface CheckCommandOptions {
  readonly json: boolean;
  /** Mount bpffs at the configured path when it is not mounted (check alone never changes the host). */
  readonly mountBpffs: boolean;
}

export interface CheckCommandDeps {
  readonly host: HostCheckDeps;
  readonly facts: () => Promise<HostFacts>;
  readonly mountBpffs: (path: string) => Promise<void>;
}

export function systemCheckCommandDeps(): CheckCommandDeps {
  return { host: systemCheckDeps(probeKernelFromAddon), facts: () => collectHostFacts(), mountBpffs };
}

/** Runs the checks and prints them; resolves with the exit code (0 all passed, 1 any failed). */
export async function runCheck(config: WeftConfig, options: CheckCommandOptions, io: CliIo, deps: CheckCommandDeps = systemCheckCommandDeps()): Promise<number> {
  const factsPromise = deps.facts();
  let checks = await runHostChecks(config, deps.host);
  let mounted: { ok: boolean; detail: string } | undefined;
  if (options.mountBpffs && !bpffsMounted(config.bpf.bpffs, deps.host)) {
    mounted = await deps.mountBpffs(config.bpf.bpffs).then(
      () => ({ ok: true, detail: `mounted bpffs at ${config.bpf.bpffs}` }),
      (error: unknown) => ({ ok: false, detail: `could not mount bpffs at ${config.bpf.bpffs}: ${describeError(error)}` }),
    );
    checks = await runHostChecks(config, deps.host);
  }
  const facts = await factsPromise;
  const failed = checks.filter((check) => !check.ok).length;
  if (options.json) {
    io.stdout(`${JSON.stringify({ ok: failed === 0, passed: checks.length - failed, failed, checks, ...(mounted === undefined ? {} : { mountBpffs: mounted }), host: facts }, null, 2)}\n`);
  } else {
    io.stdout(formatChecks(checks, facts, mounted));
  }
  return failed === 0 ? 0 : 1;
}

export function formatChecks(checks: readonly CheckResult[], facts: HostFacts, mounted?: { ok: boolean; detail: string }): string {
  const lines = [`weft check on ${describeHost(facts)}`];
  if (mounted !== undefined) lines.push(`${mounted.ok ? '·' : '!'} ${mounted.detail}`);
  for (const check of checks) {
    lines.push(`${check.ok ? 'PASS' : 'FAIL'} ${check.name} — ${check.detail}`);
    if (!check.ok && check.fix !== undefined) lines.push(`     fix: ${check.fix}`);
  }
  const failed = checks.filter((check) => !check.ok).length;
  lines.push(`${checks.length} checks: ${checks.length - failed} passed, ${failed} failed${failed === 0 ? '' : ' (fixes above)'}`);
  return `${lines.join('\n')}\n`;
}

function describeHost(facts: HostFacts): string {
  const os = facts.os.distro === 'unknown' ? 'unknown OS' : `${facts.os.distro}${facts.os.release === 'unknown' ? '' : ` ${facts.os.release}`}`;
  const cores = facts.cpu.cores === 'unknown' ? '? cores' : `${facts.cpu.cores} cores`;
  const model = facts.cpu.model === 'unknown' ? '' : ` ${facts.cpu.model}`;
  const memory = facts.memory.totalBytes === 'unknown' ? '? GiB' : `${(facts.memory.totalBytes / 2 ** 30).toFixed(1)} GiB`;
  return `${facts.hostname === 'unknown' ? 'this host' : facts.hostname}: ${os}, kernel ${facts.osRelease}, ${cores}${model}, ${memory}, Node.js ${facts.node}`;
}

function bpffsMounted(path: string, host: HostCheckDeps): boolean {
  const mounts = host.readText(procPaths.mounts);
  return mounts !== undefined && mountAt(parseMounts(mounts), path)?.type === 'bpf';
}

const execFileAsync = promisify(execFile);

async function mountBpffs(path: string): Promise<void> {
  mkdirSync(path, { recursive: true });
  await execFileAsync('mount', ['-t', 'bpf', 'bpf', path], { timeout: 10_000 });
}

// agent/intercept/ is the only code that may load the addon; it is imported by URL so this
// command still runs (and says what is missing) in a tree where that module or the addon it
// loads is not built yet. Its answer is checked at run time for the same reason.
const interceptModule = new URL('../intercept/index.ts', import.meta.url);

export async function probeKernelFromAddon(): Promise<KernelProbeOutcome> {
  let loaded: unknown;
  try {
    loaded = await import(interceptModule.href);
  } catch (error) {
    const absent = (error as { code?: unknown; url?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && (error as { url?: unknown }).url === interceptModule.href;
    return { kind: 'unavailable', reason: `addon not built (${absent ? 'agent/intercept/index.ts is not in this build' : describeError(error)})` };
  }
  const probeKernel = (loaded as { probeKernel?: unknown }).probeKernel;
  if (typeof probeKernel !== 'function') return { kind: 'unavailable', reason: 'addon not built (agent/intercept has no probeKernel)' };
  try {
    return toProbeOutcome(await (probeKernel as () => unknown)());
  } catch (error) {
    return { kind: 'unavailable', reason: `addon not built or failed to load (${describeError(error)})` };
  }
}

/**
 * Accepts what probeKernel() may reasonably return: a KernelFeatureProbe, plain records
 * `{ programTypes, mapTypes }`, or a result union `{ kind: 'ok', … } | { kind: …, reason }`.
 */
export function toProbeOutcome(value: unknown): KernelProbeOutcome {
  if (typeof value !== 'object' || value === null) return { kind: 'unavailable', reason: 'addon not built (probeKernel returned nothing usable)' };
  const record = value as Record<string, unknown>;
  if (typeof record.kind === 'string' && record.kind !== 'ok') {
    const reason = typeof record.reason === 'string' ? record.reason : typeof record.message === 'string' ? record.message : record.kind;
    return { kind: 'unavailable', reason: `addon not built (${reason})` };
  }
  const source = typeof record.probe === 'object' && record.probe !== null ? (record.probe as Record<string, unknown>) : record;
  const programTypes = accessor(source, 'programTypes');
  const mapTypes = accessor(source, 'mapTypes');
  if (programTypes === undefined || mapTypes === undefined) {
    return { kind: 'unavailable', reason: 'addon not built (probeKernel did not report program and map types)' };
  }
  const probe: KernelFeatureProbe = { programTypes, mapTypes };
  return { kind: 'ok', probe };
}

function accessor(source: Record<string, unknown>, key: 'programTypes' | 'mapTypes'): (() => Record<string, boolean>) | undefined {
  const member = source[key];
  if (typeof member === 'function') return () => booleans((member as () => unknown).call(source), key);
  if (typeof member === 'object' && member !== null) return () => booleans(member, key);
  return undefined;
}

function booleans(value: unknown, what: string): Record<string, boolean> {
  if (typeof value !== 'object' || value === null) throw new WeftError('WEFT_E_CHECK_PROBE', `${what} is not a record of type → supported`);
  const out: Record<string, boolean> = {};
  for (const [key, supported] of Object.entries(value)) out[key] = supported === true;
  return out;
}
