// A local file of Kubernetes-shaped objects, as an operator or a test writes it: JSON (one object, a
// `kind: List`, or an array) or YAML (the same, or a multi-document stream). The inventory reads
// Pods and Namespaces from it, discovery Services and EndpointSlices; both share this reader, so one
// file may hold all four kinds. Every object keeps where it came from (document, item, line), because
// an error that does not name the place in a hand-written file is an error nobody can fix.
// Kept here (discovery imports it) until the Kubernetes client gives shared object code a folder.
import { extname } from 'node:path';
import type { Node as YamlNode } from 'yaml';
import { isMap, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import { describeError, WeftError } from '../errors.ts';

/** Which agent area reads the file: it names the error codes (WEFT_E_INVENTORY_* / WEFT_E_DISCOVERY_*). */
export type FileArea = 'INVENTORY' | 'DISCOVERY';

export interface ObjectLocation {
  readonly file: string;
  /** 0-based index of the YAML document (always 0 for JSON). */
  readonly document: number;
  /** How many documents the file has; the document is named in messages only when there are several. */
  readonly documents: number;
  /** 0-based index in the document's `items` (a List) or top-level array; undefined for a lone object. */
  readonly item: number | undefined;
  /** 1-based line where the object starts, when known (YAML only: JSON.parse keeps no positions). */
  readonly line: number | undefined;
}

export interface RawObject {
  readonly location: ObjectLocation;
  /** `kind` of the object; every object must have one (it decides who reads it). */
  readonly kind: string;
  readonly value: Readonly<Record<string, unknown>>;
}

export type ObjectFileResult =
  | { readonly kind: 'ok'; readonly objects: readonly RawObject[] }
  | { readonly kind: 'error'; readonly error: WeftError };

/** Splits a file's text into located objects; syntax and shape errors name the file and the place. */
export function parseObjectFile(file: string, text: string, area: FileArea): ObjectFileResult {
  const documents = extname(file).toLowerCase() === '.json' ? parseJson(file, text, area) : parseYaml(file, text, area);
  if (documents instanceof WeftError) return { kind: 'error', error: documents };
  const objects: RawObject[] = [];
  for (const [index, doc] of documents.entries()) {
    const base = { file, document: index, documents: documents.length };
    const value = doc.value;
    // An empty document (a stray `---`, a comment-only file) holds nothing, which is not an error.
    if (value === null || value === undefined) continue;
    const listed = listItems(value);
    if (listed === undefined) {
      const location = { ...base, item: undefined, line: doc.line(undefined) };
      const object = asObject(value, location, area);
      if (object instanceof WeftError) return { kind: 'error', error: object };
      objects.push(object);
      continue;
    }
    for (const [item, entry] of listed.entries()) {
      const location = { ...base, item, line: doc.line(item) };
      const object = asObject(entry, location, area);
      if (object instanceof WeftError) return { kind: 'error', error: object };
      objects.push(object);
    }
  }
  return { kind: 'ok', objects };
}

/** `pods.yaml document 2, items[3] (line 14)`: where an object sits, in the words an editor needs. */
export function describeLocation(location: ObjectLocation): string {
  const parts: string[] = [];
  if (location.documents > 1) parts.push(`document ${location.document + 1}`);
  if (location.item !== undefined) parts.push(`items[${location.item}]`);
  const where = parts.length === 0 ? location.file : `${location.file} ${parts.join(', ')}`;
  return location.line === undefined ? where : `${where} (line ${location.line})`;
}

/** `Pod demo/web`, or just the kind when the object has no usable name. */
export function describeObject(object: RawObject): string {
  const metadata = object.value['metadata'];
  if (typeof metadata !== 'object' || metadata === null) return object.kind;
  const { namespace, name } = metadata as Record<string, unknown>;
  if (typeof name !== 'string') return object.kind;
  return typeof namespace === 'string' ? `${object.kind} ${namespace}/${name}` : `${object.kind} ${name}`;
}

export interface FieldIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** One object read into the model, or what is wrong with its fields (placed by the caller). */
export type ObjectParse<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'invalid'; readonly issues: readonly FieldIssue[] };

/** The error for a malformed object: file, place, object, then each field and what is wrong with it. */
export function objectError(area: FileArea, object: RawObject, issues: readonly FieldIssue[]): WeftError {
  const shown = issues.slice(0, 5).map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  return new WeftError(
    `WEFT_E_${area}_FILE_OBJECT`,
    `${describeLocation(object.location)}: ${describeObject(object)}: ${shown.join('; ')}; the last good contents stay in use until the file is fixed`,
  );
}

/** `spec.ports[0].targetPort`, `metadata.labels["kubernetes.io/service-name"]`: a path as it would be written in code. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(object)';
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text;
}

interface ParsedDocument {
  readonly value: unknown;
  /** The 1-based line of the document (item undefined) or of one of its listed items. */
  line(item: number | undefined): number | undefined;
}

function parseJson(file: string, text: string, area: FileArea): ParsedDocument[] | WeftError {
  try {
    const value: unknown = JSON.parse(text);
    return [{ value, line: () => undefined }];
  } catch (error) {
    return new WeftError(`WEFT_E_${area}_FILE_SYNTAX`, `${file}: not valid JSON: ${describeError(error)}`, { cause: error });
  }
}

function parseYaml(file: string, text: string, area: FileArea): ParsedDocument[] | WeftError {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true });
  // An empty stream (no documents at all) parses to a non-array marker.
  if (!Array.isArray(parsed)) return [];
  const documents: ParsedDocument[] = [];
  for (const [index, doc] of parsed.entries()) {
    const where = parsed.length > 1 ? `${file} document ${index + 1}` : file;
    const first = doc.errors[0];
    if (first !== undefined) {
      return new WeftError(`WEFT_E_${area}_FILE_SYNTAX`, `${where}: not valid YAML: ${first.message.trim()}`, { cause: first });
    }
    let value: unknown;
    try {
      // The default alias limit stays: it is what stops a "billion laughs" file from eating memory.
      value = doc.toJS();
    } catch (error) {
      return new WeftError(`WEFT_E_${area}_FILE_SYNTAX`, `${where}: not usable YAML: ${describeError(error)}`, { cause: error });
    }
    const contents = doc.contents;
    const itemNodes = (): readonly unknown[] | undefined => {
      if (isSeq(contents)) return contents.items;
      if (isMap(contents)) {
        const items = contents.get('items', true);
        if (isSeq(items)) return items.items;
      }
      return undefined;
    };
    const lineOf = (node: unknown): number | undefined => {
      const range = (node as YamlNode | null)?.range;
      return range === undefined || range === null ? undefined : lines.linePos(range[0]).line;
    };
    documents.push({
      value,
      line: (item) => (item === undefined ? lineOf(contents) : lineOf(itemNodes()?.[item])),
    });
  }
  return documents;
}

/** The entries of a List (`kind: List`, `kind: PodList`, …) or a top-level array; undefined for one object. */
function listItems(value: unknown): readonly unknown[] | undefined {
  if (Array.isArray(value)) return value as unknown[];
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const kind = record['kind'];
  if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(record['items'])) return record['items'] as unknown[];
  return undefined;
}

function asObject(value: unknown, location: ObjectLocation, area: FileArea): RawObject | WeftError {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new WeftError(
      `WEFT_E_${area}_FILE_OBJECT`,
      `${describeLocation(location)}: expected a Kubernetes object (a mapping with kind and metadata), found ${Array.isArray(value) ? 'a list' : typeof value}`,
    );
  }
  const record = value as Record<string, unknown>;
  const kind = record['kind'];
  if (typeof kind !== 'string' || kind === '') {
    return new WeftError(
      `WEFT_E_${area}_FILE_OBJECT`,
      `${describeLocation(location)}: kind: required (Pod, Namespace, Service, EndpointSlice or a List of them)`,
    );
  }
  return { location, kind, value: record };
}
