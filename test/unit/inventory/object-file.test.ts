import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { describeLocation, formatPath, parseObjectFile } from '../../../agent/inventory/object-file.ts';
import type { ObjectFileResult, RawObject } from '../../../agent/inventory/object-file.ts';

function ok(result: ObjectFileResult): readonly RawObject[] {
  if (result.kind === 'error') assert.fail(`expected objects, got ${result.error.message}`);
  return result.objects;
}

function error(result: ObjectFileResult): { code: string; message: string } {
  if (result.kind === 'ok') assert.fail(`expected an error, got ${result.objects.length} objects`);
  return { code: result.error.code, message: result.error.message };
}

const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'demo', name: 'web' } };
const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } };

describe('object file formats', () => {
  it('reads a JSON List, a JSON array and a lone JSON object', () => {
    assert.deepEqual(ok(parseObjectFile('a.json', JSON.stringify({ kind: 'List', items: [pod, ns] }), 'INVENTORY')).map((o) => o.kind), ['Pod', 'Namespace']);
    assert.deepEqual(ok(parseObjectFile('a.json', JSON.stringify([ns, pod]), 'INVENTORY')).map((o) => o.kind), ['Namespace', 'Pod']);
    assert.deepEqual(ok(parseObjectFile('a.json', JSON.stringify(pod), 'INVENTORY')).map((o) => o.value), [pod]);
  });

  it('reads a typed list (PodList) like a List', () => {
    assert.equal(ok(parseObjectFile('a.json', JSON.stringify({ kind: 'PodList', items: [pod, pod] }), 'INVENTORY')).length, 2);
  });

  it('reads a multi-document YAML stream, skipping empty documents', () => {
    const text = `---\n${stringify(pod)}---\n# nothing here\n---\n${stringify({ kind: 'List', items: [ns] })}---\n`;
    const objects = ok(parseObjectFile('a.yaml', text, 'INVENTORY'));
    assert.deepEqual(objects.map((o) => o.kind), ['Pod', 'Namespace']);
    assert.deepEqual(objects[0]?.value, pod);
  });

  it('reads JSON through the YAML reader when the name does not end in .json', () => {
    assert.equal(ok(parseObjectFile('inventory', JSON.stringify([pod, ns]), 'INVENTORY')).length, 2);
  });

  it('an empty file holds no objects (not an error)', () => {
    assert.deepEqual(ok(parseObjectFile('a.yaml', '', 'INVENTORY')), []);
    assert.deepEqual(ok(parseObjectFile('a.yaml', '# only a comment\n', 'INVENTORY')), []);
  });

  it('keeps where each object came from: document, item and line', () => {
    const text = ['kind: Namespace', 'metadata: {name: a}', '---', 'kind: List', 'items:', '- kind: Pod', '  metadata: {name: x}', '- kind: Pod', '  metadata: {name: y}', ''].join('\n');
    const objects = ok(parseObjectFile('f.yaml', text, 'INVENTORY'));
    assert.deepEqual(
      objects.map((o) => describeLocation(o.location)),
      ['f.yaml document 1 (line 1)', 'f.yaml document 2, items[0] (line 6)', 'f.yaml document 2, items[1] (line 8)'],
    );
  });
});

describe('object file errors name the file and the place', () => {
  it('JSON syntax', () => {
    const e = error(parseObjectFile('/etc/weft/pods.json', '{"kind": "List", "items": [', 'INVENTORY'));
    assert.equal(e.code, 'WEFT_E_INVENTORY_FILE_SYNTAX');
    assert.match(e.message, /^\/etc\/weft\/pods\.json: not valid JSON: /);
  });

  it('YAML syntax, with the document and the line', () => {
    const e = error(parseObjectFile('pods.yaml', `${stringify(pod)}---\nkind: Pod\nmetadata: {name: [\n`, 'DISCOVERY'));
    assert.equal(e.code, 'WEFT_E_DISCOVERY_FILE_SYNTAX');
    assert.match(e.message, /^pods\.yaml document 2: not valid YAML: .*line \d+/s);
  });

  it('duplicate YAML keys are an error, not a silent overwrite', () => {
    const e = error(parseObjectFile('pods.yaml', 'kind: Pod\nkind: Namespace\n', 'INVENTORY'));
    assert.equal(e.code, 'WEFT_E_INVENTORY_FILE_SYNTAX');
  });

  it('an item without kind', () => {
    const e = error(parseObjectFile('pods.json', JSON.stringify({ kind: 'List', items: [pod, { metadata: { name: 'x' } }] }), 'INVENTORY'));
    assert.equal(e.code, 'WEFT_E_INVENTORY_FILE_OBJECT');
    assert.equal(e.message, 'pods.json items[1]: kind: required (Pod, Namespace, Service, EndpointSlice or a List of them)');
  });

  it('an item that is not a mapping', () => {
    const e = error(parseObjectFile('pods.json', JSON.stringify([pod, 'web']), 'INVENTORY'));
    assert.match(e.message, /^pods\.json items\[1\]: expected a Kubernetes object .* found string$/);
  });

  it('a YAML alias bomb is refused, not expanded', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(`${next}: &${next} [${Array.from({ length: 10 }, () => `*${prev}`).join(',')}]`);
    }
    const e = error(parseObjectFile('bomb.yaml', `${lines.join('\n')}\nkind: Pod\n`, 'INVENTORY'));
    assert.equal(e.code, 'WEFT_E_INVENTORY_FILE_SYNTAX');
  });
});

describe('formatPath', () => {
  it('writes paths as code would: dots, indexes, and quoted keys that are not identifiers', () => {
    assert.equal(formatPath(['spec', 'ports', 0, 'targetPort']), 'spec.ports[0].targetPort');
    assert.equal(formatPath(['metadata', 'labels', 'kubernetes.io/service-name']), 'metadata.labels["kubernetes.io/service-name"]');
    assert.equal(formatPath([]), '(object)');
  });
});

describe('object file property: every format yields the same objects', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
  const object = fc.record({
    kind: fc.constantFrom('Pod', 'Namespace', 'Service', 'EndpointSlice', 'ConfigMap'),
    metadata: fc.record({ name, labels: fc.dictionary(name, fc.string()) }),
  });

  it('a JSON List, a JSON array, a YAML List and a YAML stream of the same objects read the same', () => {
    fc.assert(
      fc.property(fc.array(object, { minLength: 0, maxLength: 8 }), (generated) => {
        // Plain objects: the generator's records have no prototype, parsed ones do.
        const objects = JSON.parse(JSON.stringify(generated)) as unknown[];
        const values = (result: ObjectFileResult): unknown[] => ok(result).map((o) => o.value);
        const expected = values(parseObjectFile('x.json', JSON.stringify({ kind: 'List', items: objects }), 'INVENTORY'));
        assert.deepEqual(expected, objects);
        assert.deepEqual(values(parseObjectFile('x.json', JSON.stringify(objects), 'INVENTORY')), objects);
        assert.deepEqual(values(parseObjectFile('x.yaml', stringify({ kind: 'List', items: objects }), 'INVENTORY')), objects);
        const stream = objects.map((o) => `---\n${stringify(o)}`).join('');
        assert.deepEqual(values(parseObjectFile('x.yaml', stream, 'INVENTORY')), objects);
      }),
    );
  });
});
