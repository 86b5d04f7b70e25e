// Loading the configuration: defaults ← optional file (YAML or JSON) ← environment. The file is
// named by `--config` or WEFT_CONFIG; without one the agent runs on defaults and env alone. Bad
// input never escapes as a stack trace: it becomes one ConfigError listing every problem.
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { describeError, WeftError } from '../errors.ts';
import { configFileVariable, convertEnvValue, envDefaults, envOverrides, envValue } from './env.ts';
import type { Env } from './env.ts';
import { ConfigError, describeIssues } from './problems.ts';
import type { ConfigProblem, SourceOf } from './problems.ts';
import { configSchema } from './schema.ts';
import type { WeftConfig } from './schema.ts';

export interface LoadConfigOptions {
  /** The `--config` value; when absent, WEFT_CONFIG names the file; when both are absent, no file. */
  readonly path?: string | undefined;
  /** Defaults to `process.env`. */
  readonly env?: Env;
}

/** Reads, merges and validates the configuration. Throws WeftError WEFT_E_CONFIG_FILE or ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): WeftConfig {
  const env = options.env ?? process.env;
  const named = options.path !== undefined && options.path !== '' ? { path: options.path, by: '--config' } : fileFromEnv(env);
  if (named === undefined) return parseConfig({}, { env });
  const file = readConfigFile(resolve(named.path), named.by);
  return parseConfig(file.value, { env, fileSourceOf: file.sourceOf });
}

export interface ParseConfigOptions {
  /** Environment overrides to apply on top of `input`; none by default, so programmatic use is pure. */
  readonly env?: Env;
  /** Where values of `input` came from (file positions), for messages. */
  readonly fileSourceOf?: SourceOf;
}

/** Validates `input` (with env overrides applied) and fills in every default. Throws ConfigError. */
export function parseConfig(input: unknown, options: ParseConfigOptions = {}): WeftConfig {
  const env = options.env ?? {};
  const { merged, envSourceOf } = applyEnv(withoutNulls(input), env);
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const sourceOf: SourceOf = (path) => envSourceOf(path) ?? options.fileSourceOf?.(path);
  throw new ConfigError(describeIssues(result.error.issues, merged, sourceOf));
}

function fileFromEnv(env: Env): { path: string; by: string } | undefined {
  const path = envValue(env, configFileVariable);
  return path === undefined ? undefined : { path, by: configFileVariable };
}

interface ConfigFile {
  readonly value: unknown;
  readonly sourceOf: SourceOf;
}

export function readConfigFile(path: string, namedBy: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new WeftError('WEFT_E_CONFIG_FILE', `cannot read the config file ${path} (named by ${namedBy}): ${fileErrorReason(error)}`, { cause: error });
  }
  return parseConfigText(text, path);
}

function fileErrorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return describeError(error);
}

/** Parses config text: `.json` as strict JSON, anything else as YAML (which also reads JSON). */
export function parseConfigText(text: string, path: string): ConfigFile {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (extname(path).toLowerCase() === '.json') {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ConfigError([{ path: '(file)', message: describeError(error), source: path }], `cannot parse the config file ${path} as JSON`);
    }
    return { value, sourceOf: document.errors.length === 0 ? locator(document, lineCounter, path) : () => path };
  }
  if (document.errors.length > 0) {
    const problems: ConfigProblem[] = document.errors.map((error) => {
      const at = error.linePos?.[0];
      // prettyErrors appends "at line L, column C:" and a code excerpt; the source already says where.
      const message = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
      return { path: '(file)', message, source: at === undefined ? path : `${path}:${at.line}:${at.col}` };
    });
    throw new ConfigError(problems, `cannot parse the config file ${path} as YAML`);
  }
  return { value: document.toJS({ maxAliasCount: 100 }) as unknown, sourceOf: locator(document, lineCounter, path) };
}

/** file:line:column of the node at a path, or of its nearest ancestor present in the file. */
function locator(document: Document, lineCounter: LineCounter, path: string): SourceOf {
  return (at) => {
    for (let length = at.length; length >= 0; length -= 1) {
      const node: unknown = document.getIn(at.slice(0, length), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range !== undefined) {
        const position = lineCounter.linePos(range[0]);
        return `${path}:${position.line}:${position.col}`;
      }
    }
    return path;
  };
}

/**
 * `admin:` with nothing under it is YAML for null; reading a null mapping value as "not set"
 * matches what the writer meant, where a type error would not help.
 */
function withoutNulls(value: unknown): unknown {
  if (value === null) return {};
  if (!isPlainObject(value)) return value;
  return stripNulls(value);
}

function stripNulls(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (inner === null) continue;
    out[key] = isPlainObject(inner) ? stripNulls(inner) : inner;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function applyEnv(input: unknown, env: Env): { merged: unknown; envSourceOf: SourceOf } {
  let merged = input;
  const applied: Array<{ path: readonly string[]; variable: string }> = [];
  for (const entry of envDefaults) {
    const raw = envValue(env, entry.variable);
    if (raw === undefined || hasPath(merged, entry.path)) continue;
    merged = setPath(merged, entry.path, convertEnvValue(entry.kind, raw));
    applied.push(entry);
  }
  for (const entry of envOverrides) {
    const raw = envValue(env, entry.variable);
    if (raw === undefined) continue;
    merged = setPath(merged, entry.path, convertEnvValue(entry.kind, raw));
    applied.push(entry);
  }
  const envSourceOf: SourceOf = (path) => {
    // The last variable written at or above `path` is the one whose value is there.
    for (let i = applied.length - 1; i >= 0; i -= 1) {
      const entry = applied[i];
      if (entry !== undefined && entry.path.every((part, j) => path[j] === part) && path.length >= entry.path.length) return `env ${entry.variable}`;
    }
    return undefined;
  };
  return { merged, envSourceOf };
}

function hasPath(value: unknown, path: readonly string[]): boolean {
  let current = value;
  for (const part of path) {
    if (!isPlainObject(current) || !(part in current)) return false;
    current = current[part];
  }
  return true;
}

/**
 * A copy of `value` with `path` set. Where the file holds something other than a mapping on the
 * way (a type error the schema will report), the value is left as it is.
 */
function setPath(value: unknown, path: readonly string[], leaf: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return leaf;
  if (value !== undefined && !isPlainObject(value)) return value;
  const base = value ?? {};
  return { ...base, [head]: setPath(base[head], rest, leaf) };
}
