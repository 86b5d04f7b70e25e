// Turning validation issues into what an operator reads: one line per problem, with the setting's
// path, what is allowed there, the value that was given and where it came from (file:line:column
// or the environment variable). All problems at once, so fixing a config is one round, not ten.
import type { z } from 'zod';
import { WeftError } from '../errors.ts';

export interface ConfigProblem {
  /** Dotted path of the setting, `capture.excludedPorts[2]`; `(top level)` for the root. */
  readonly path: string;
  /** What is wrong and what is allowed. */
  readonly message: string;
  /** The offending value, rendered short; absent when it says nothing (a missing or unknown key). */
  readonly got?: string;
  /** `env WEFT_ADMIN_PORT` or `/etc/weft/config.yaml:4:9`, when known. */
  readonly source?: string;
}

/** Where the value at a path came from, if known. */
export type SourceOf = (path: readonly PropertyKey[]) => string | undefined;

export class ConfigError extends WeftError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], heading = 'invalid configuration', options: { readonly cause?: unknown } = {}) {
    super('WEFT_E_CONFIG_INVALID', formatProblems(heading, problems), options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblems(heading: string, problems: readonly ConfigProblem[]): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return [`${heading} (${count}):`, ...problems.map((problem) => `  - ${formatProblem(problem)}`)].join('\n');
}

export function formatProblem(problem: ConfigProblem): string {
  const notes = [problem.got === undefined ? undefined : `got ${problem.got}`, problem.source === undefined ? undefined : `from ${problem.source}`].filter(
    (note): note is string => note !== undefined,
  );
  return `${problem.path}: ${problem.message}${notes.length === 0 ? '' : ` (${notes.join(', ')})`}`;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown, sourceOf: SourceOf): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    // An unknown key is located at the key itself, so the file position points at the typo.
    const located = issue.code === 'unrecognized_keys' && issue.keys.length === 1 ? [...issue.path, ...issue.keys] : issue.path;
    const path = formatPath(located);
    // Two rules of one field can say the same thing (pattern and refinement); say it once.
    const key = `${path}\n${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A bad key of a mapping (a route name) is shown as the key, not as the value under it.
    const got = issue.code === 'unrecognized_keys' ? undefined : renderValue(issue.code === 'invalid_key' ? issue.path.at(-1) : valueAt(input, issue.path));
    const source = sourceOf(located);
    problems.push({ path, message: issue.message, ...(got === undefined ? {} : { got }), ...(source === undefined ? {} : { source }) });
  }
  return problems;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    // A key that is not a plain name (a route name such as default/web:http) is quoted in brackets.
    else if (typeof part === 'string' && !/^[A-Za-z_$][\w$]*$/.test(part)) out += `[${JSON.stringify(part)}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** A short rendering of a given value; undefined when nothing was given. */
export function renderValue(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    const json = JSON.stringify(value);
    return json.length > 62 ? `${json.slice(0, 58)}…"` : json;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === null) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}
