import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { envOverrides } from '../../../agent/config/env.ts';
import { loadConfig, parseConfig } from '../../../agent/config/load.ts';
import { ConfigError } from '../../../agent/config/problems.ts';
import { bpfPinPath, configSchema } from '../../../agent/config/schema.ts';
import type { WeftConfig } from '../../../agent/config/schema.ts';
import { balanceParams } from '../../../agent/balance/balance-layer.ts';
import { detectParams } from '../../../agent/proxy/detect/params.ts';
import { http1ServerParams } from '../../../agent/proxy/http1/server-connection.ts';
import { admissionParams } from '../../../agent/resilience/admission.ts';
import { deadlineParams } from '../../../agent/resilience/deadline.ts';
import { failureAccrualParams } from '../../../agent/resilience/failure-accrual.ts';
import { ratioBudgetParams } from '../../../agent/resilience/retry-budget.ts';
import { retryPolicyParams } from '../../../agent/resilience/retry-policy.ts';
import { sloParams } from '../../../agent/telemetry/slo.ts';

const dir = mkdtempSync(join(tmpdir(), 'weft-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
function file(name: string, text: string): string {
  fileCount += 1;
  const path = join(dir, `${fileCount}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError thrown by `fn` (fails the test if none or another error is thrown). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'WEFT_E_CONFIG_INVALID');
    return error;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

// The proxy section's defaults, read from the params objects of the code it configures: a default
// changed there must show up here, and a number restated in the schema would not.
const successRate = failureAccrualParams.successRate;
assert.ok(successRate !== undefined && deadlineParams.routeTimeoutMs !== undefined && retryPolicyParams.perTryTimeoutMs === undefined);
assert.equal(ratioBudgetParams.kind, 'ratio');
const proxyDefaults: WeftConfig['proxy'] = {
  detect: { timeoutMs: detectParams.timeoutMs, serverFirstPorts: [...detectParams.serverFirstPorts] },
  http1: { headerTimeoutMs: http1ServerParams.headerTimeoutMs, idleTimeoutMs: http1ServerParams.idleTimeoutMs },
  route: {
    timeoutMs: deadlineParams.routeTimeoutMs,
    retry: {
      limit: retryPolicyParams.maxRetries,
      perTryTimeoutMs: 0,
      on: '5xx',
      grpcCodes: '',
      methods: retryPolicyParams.conditions.methods,
      maxBodyBytes: retryPolicyParams.maxBodyBytes,
      budget: { kind: 'ratio', ratio: ratioBudgetParams.ratio, minPerSecond: ratioBudgetParams.minRetriesPerSec, ttlMs: ratioBudgetParams.ttlMs },
    },
    balancer: {
      algorithm: balanceParams.algorithm,
      defaultRttMs: balanceParams.peakEwma.defaultRttMs,
      decayMs: balanceParams.peakEwma.decayMs,
      panicThresholdPercent: balanceParams.panic.panicThresholdPercent,
    },
    failureAccrual: {
      consecutiveFailures: failureAccrualParams.consecutiveFailures,
      backoff: { minMs: failureAccrualParams.backoff.minMs, maxMs: failureAccrualParams.backoff.maxMs },
      successRate: { ...successRate },
    },
    loadShed: { maxInFlight: admissionParams.routeMaxInFlight, sourceMaxShare: admissionParams.sourceMaxShare },
  },
  routes: {},
};

// telemetry.slo's defaults, read from telemetry/slo.ts as the proxy's are from their params.
const telemetryDefaults: WeftConfig['telemetry'] = {
  slo: { successRate: sloParams.successObjective, latency: { thresholdMs: sloParams.latencyThresholdMs, objective: sloParams.latencyObjective }, alertBurnRate: sloParams.alertBurnRate, routes: {} },
  accessLog: false,
  tracing: { sampleRatio: 0.01, batchSize: 512, queueSize: 2048, flushIntervalMs: 5000, exportTimeoutMs: 10_000 },
};

const defaults: WeftConfig = {
  node: { name: hostname().toLowerCase() },
  cgroup: { podsRoot: 'auto' },
  bpf: { bpffs: '/sys/fs/bpf', pinDir: 'weft', heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1000 },
  capture: { outboundPort: 4140, inboundPort: 4143, excludedPorts: [], captureV6: true },
  inventory: {},
  discovery: { advisory: { keepLastGoodOnEmpty: true, confirmEmptyMs: 30_000, panicThresholdPercent: 20 } },
  admin: { address: '127.0.0.1', port: 4191, allowRemote: false },
  log: { level: 'info' },
  proxy: proxyDefaults,
  naming: { dtab: '' },
  telemetry: telemetryDefaults,
};

describe('config defaults (zero-config)', () => {
  it('an empty input resolves to every default', () => {
    assert.deepEqual(parseConfig({}), defaults);
  });

  it('no file and no environment: loadConfig gives the defaults', () => {
    assert.deepEqual(loadConfig({ env: {} }), defaults);
  });

  it('a partial section keeps the defaults of its other fields', () => {
    const config = parseConfig({ capture: { outboundPort: 5140 }, admin: { port: 9000 } });
    assert.deepEqual(config.capture, { ...defaults.capture, outboundPort: 5140 });
    assert.deepEqual(config.admin, { ...defaults.admin, port: 9000 });
  });

  it('empty YAML sections (null) count as not set', () => {
    const path = file('nulls.yaml', 'admin:\nlog:\n  level:\ninventory: ~\n');
    assert.deepEqual(loadConfig({ path, env: {} }), defaults);
  });

  it('normalises absolute paths and joins the pin path under bpffs', () => {
    const config = parseConfig({ bpf: { bpffs: '/sys/fs//bpf/', pinDir: 'weft/node-1' }, cgroup: { podsRoot: '/sys/fs/cgroup/kubepods.slice/' } });
    assert.equal(config.bpf.bpffs, '/sys/fs/bpf');
    assert.equal(config.cgroup.podsRoot, '/sys/fs/cgroup/kubepods.slice');
    assert.equal(bpfPinPath(config.bpf), '/sys/fs/bpf/weft/node-1');
  });

  it('a resolved config is valid input that resolves to itself (dump and reload round-trips)', () => {
    const port = fc.integer({ min: 1, max: 65535 });
    fc.assert(
      fc.property(
        fc.uniqueArray(port, { minLength: 3, maxLength: 3 }),
        fc.uniqueArray(port, { maxLength: 10 }),
        fc.integer({ min: 10, max: 1000 }),
        fc.boolean(),
        fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
        ([outboundPort, inboundPort, adminPort], excludedPorts, interval, captureV6, level) => {
          const input = {
            capture: { outboundPort, inboundPort, excludedPorts, captureV6 },
            admin: { port: adminPort },
            bpf: { heartbeatIntervalMs: interval, heartbeatTimeoutMs: interval * 2 + 1 },
            log: { level },
          };
          const once = parseConfig(input);
          assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(once))), once);
        },
      ),
    );
  });
});

describe('config environment overrides', () => {
  it('every override variable sets its path', () => {
    const env = {
      WEFT_NODE_NAME: 'node-a',
      WEFT_PODS_CGROUP: '/sys/fs/cgroup/unified/kubepods',
      WEFT_BPFFS: '/run/bpf',
      WEFT_BPF_PIN_DIR: 'weft-a',
      WEFT_OUTBOUND_PORT: '5140',
      WEFT_INBOUND_PORT: '5143',
      WEFT_EXCLUDED_PORTS: '22, 25 3306',
      WEFT_CAPTURE_V6: 'false',
      WEFT_INVENTORY_FILE: '/etc/weft/pods.json',
      WEFT_DISCOVERY_FILE: '/etc/weft/services.json',
      WEFT_ADMIN_ADDRESS: '::1',
      WEFT_ADMIN_PORT: '5191',
      WEFT_LOG_LEVEL: 'debug',
      WEFT_DETECT_TIMEOUT_MS: '2500',
      WEFT_SERVER_FIRST_PORTS: '25,3306',
      WEFT_ROUTE_TIMEOUT_MS: '3000',
      WEFT_RETRY_LIMIT: '2',
      WEFT_OTLP_ENDPOINT: 'http://otel-collector:4318',
    };
    assert.deepEqual(Object.keys(env).sort(), envOverrides.map((entry) => entry.variable).sort(), 'test covers every variable');
    assert.deepEqual(loadConfig({ env }), {
      node: { name: 'node-a' },
      cgroup: { podsRoot: '/sys/fs/cgroup/unified/kubepods' },
      bpf: { ...defaults.bpf, bpffs: '/run/bpf', pinDir: 'weft-a' },
      capture: { outboundPort: 5140, inboundPort: 5143, excludedPorts: [22, 25, 3306], captureV6: false },
      inventory: { file: '/etc/weft/pods.json' },
      discovery: { file: '/etc/weft/services.json', advisory: defaults.discovery.advisory },
      admin: { address: '::1', port: 5191, allowRemote: false },
      log: { level: 'debug' },
      proxy: {
        ...proxyDefaults,
        detect: { timeoutMs: 2500, serverFirstPorts: [25, 3306] },
        route: { ...proxyDefaults.route, timeoutMs: 3000, retry: { ...proxyDefaults.route.retry, limit: 2 } },
      },
      naming: { dtab: '' },
      telemetry: { ...telemetryDefaults, tracing: { ...telemetryDefaults.tracing, endpoint: 'http://otel-collector:4318' } },
    });
  });

  it('env overrides win over the file; the file keeps what env does not set', () => {
    const path = file('base.yaml', 'admin:\n  port: 9000\n  address: 127.0.0.2\nlog:\n  level: warn\n');
    const config = loadConfig({ path, env: { WEFT_ADMIN_PORT: '9100' } });
    assert.deepEqual(config.admin, { address: '127.0.0.2', port: 9100, allowRemote: false });
    assert.equal(config.log.level, 'warn');
  });

  it('NODE_NAME (downward API) is only a default: the file wins over it, WEFT_NODE_NAME wins over both', () => {
    assert.equal(loadConfig({ env: { NODE_NAME: 'from-downward-api' } }).node.name, 'from-downward-api');
    const path = file('node.yaml', 'node:\n  name: from-file\n');
    assert.equal(loadConfig({ path, env: { NODE_NAME: 'from-downward-api' } }).node.name, 'from-file');
    assert.equal(loadConfig({ path, env: { NODE_NAME: 'a', WEFT_NODE_NAME: 'explicit' } }).node.name, 'explicit');
  });

  it('empty variables are unset (a blank env entry in a manifest changes nothing)', () => {
    assert.deepEqual(loadConfig({ env: { WEFT_ADMIN_PORT: '', WEFT_CONFIG: '', NODE_NAME: ' ', WEFT_LOG_LEVEL: '' } }), defaults);
  });

  it('WEFT_CONFIG names the file; --config wins over it', () => {
    const a = file('a.yaml', 'log: { level: debug }\n');
    const b = file('b.json', '{ "log": { "level": "error" } }');
    assert.equal(loadConfig({ env: { WEFT_CONFIG: a } }).log.level, 'debug');
    assert.equal(loadConfig({ path: b, env: { WEFT_CONFIG: a } }).log.level, 'error');
  });

  it('a value of the wrong type is reported with the variable that gave it', () => {
    const error = configError(() => loadConfig({ env: { WEFT_ADMIN_PORT: 'http', WEFT_CAPTURE_V6: 'maybe', WEFT_EXCLUDED_PORTS: '22,x' } }));
    assert.deepEqual(
      error.problems.map((p) => [p.path, p.got, p.source]),
      [
        ['capture.excludedPorts[1]', '"x"', 'env WEFT_EXCLUDED_PORTS'],
        ['capture.captureV6', '"maybe"', 'env WEFT_CAPTURE_V6'],
        ['admin.port', '"http"', 'env WEFT_ADMIN_PORT'],
      ],
    );
  });
});

describe('config files', () => {
  const yaml = `# weft agent
node:
  name: node-1
cgroup:
  podsRoot: /sys/fs/cgroup/kubepods.slice
capture:
  excludedPorts: [22, 5432]
  captureV6: false
inventory:
  file: /etc/weft/pods.json
admin:
  port: 14191
`;

  it('reads YAML', () => {
    const config = loadConfig({ path: file('weft.yaml', yaml), env: {} });
    assert.equal(config.node.name, 'node-1');
    assert.equal(config.cgroup.podsRoot, '/sys/fs/cgroup/kubepods.slice');
    assert.deepEqual(config.capture.excludedPorts, [22, 5432]);
    assert.equal(config.capture.captureV6, false);
    assert.equal(config.inventory.file, '/etc/weft/pods.json');
    assert.equal(config.admin.port, 14191);
    assert.equal(config.bpf.heartbeatIntervalMs, 200);
  });

  it('reads JSON, with the same result as the equivalent YAML', () => {
    const fromYaml = loadConfig({ path: file('weft.yaml', yaml), env: {} });
    const json = { node: { name: 'node-1' }, cgroup: { podsRoot: '/sys/fs/cgroup/kubepods.slice' }, capture: { excludedPorts: [22, 5432], captureV6: false }, inventory: { file: '/etc/weft/pods.json' }, admin: { port: 14191 } };
    assert.deepEqual(loadConfig({ path: file('weft.json', JSON.stringify(json, null, 2)), env: {} }), fromYaml);
  });

  it('an empty file is an empty config', () => {
    assert.deepEqual(loadConfig({ path: file('empty.yaml', ''), env: {} }), defaults);
  });

  it('a missing file, or a directory, is a WEFT_E_CONFIG_FILE error naming the path and who named it', () => {
    const missing = join(dir, 'nope.yaml');
    assert.throws(() => loadConfig({ path: missing, env: {} }), { code: 'WEFT_E_CONFIG_FILE', message: `cannot read the config file ${missing} (named by --config): no such file` });
    assert.throws(() => loadConfig({ env: { WEFT_CONFIG: missing } }), { code: 'WEFT_E_CONFIG_FILE', message: /named by WEFT_CONFIG/ });
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    assert.throws(() => loadConfig({ path: sub, env: {} }), { code: 'WEFT_E_CONFIG_FILE', message: /it is a directory/ });
  });
});

describe('config errors: every problem, its path, what is allowed', () => {
  it('lists every problem of a bad file at once, each with path, rule, value and file position', () => {
    const path = file(
      'bad.yaml',
      [
        'node:',
        '  name: Node_1', // 2
        'admin:',
        '  prot: 4191', // 4
        '  port: 70000', // 5
        'capture:',
        '  excludedPorts: [80, 80]', // 7
        '  captureV6: "yes"', // 8
        'log:',
        '  level: loud', // 10
        'inventory:',
        '  file: pods.json', // 12
        'bpf:',
        '  pinDir: ../escape', // 14
        'discovry: {}', // 15
        '',
      ].join('\n'),
    );
    const error = configError(() => loadConfig({ path, env: {} }));
    const byPath = new Map(error.problems.map((p) => [p.path, p]));
    const expect = (key: string, message: RegExp, got: string | undefined, line: number): void => {
      const problem = byPath.get(key);
      assert.ok(problem !== undefined, `no problem reported at ${key}: ${error.message}`);
      assert.match(problem.message, message, key);
      assert.equal(problem.got, got, key);
      assert.match(problem.source ?? '', new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+$`), key);
    };
    expect('node.name', /Kubernetes node name: lowercase letters, digits/, '"Node_1"', 2);
    expect('admin.prot', /unknown setting \(allowed here: address, port, allowRemote\); did you mean "port"\?/, undefined, 4);
    expect('admin.port', /from 0 to 65535/, '70000', 5);
    expect('capture.excludedPorts', /must not list a port twice/, 'a list', 7);
    expect('capture.captureV6', /must be true or false/, '"yes"', 8);
    expect('log.level', /must be one of fatal, error, warn, info, debug, trace, silent/, '"loud"', 10);
    expect('inventory.file', /must be an absolute path/, '"pods.json"', 12);
    expect('bpf.pinDir', /relative directory name under bpf.bpffs/, '"../escape"', 14);
    expect('discovry', /unknown setting .*did you mean "discovery"\?/, undefined, 15);
    assert.equal(error.problems.length, 9, error.message);
    assert.match(error.message, /^invalid configuration \(9 problems\):\n {2}- /);
    for (const problem of error.problems) assert.ok(error.message.includes(`${problem.path}: ${problem.message}`));
  });

  it('reports a rule broken twice in one field once', () => {
    const error = configError(() => parseConfig({ bpf: { pinDir: '../x' } }));
    assert.equal(error.problems.length, 1);
  });

  it('ports must differ: capture ports from each other, admin from both', () => {
    const error = configError(() => parseConfig({ capture: { outboundPort: 7000, inboundPort: 7000 }, admin: { port: 7000 } }));
    assert.deepEqual(
      error.problems.map((p) => `${p.path}: ${p.message}`),
      [
        'capture.inboundPort: must differ from capture.outboundPort: both listen in every meshed pod',
        'admin.port: must differ from capture.outboundPort',
        'admin.port: must differ from capture.inboundPort',
      ],
    );
  });

  it('cross-field rules are still checked when another field is wrong', () => {
    const error = configError(() => parseConfig({ log: { level: 7 }, capture: { outboundPort: 7000, inboundPort: 7000 } }));
    assert.deepEqual(error.problems.map((p) => p.path).sort(), ['capture.inboundPort', 'log.level']);
  });

  it('port 0 is allowed for the admin port only (any free port)', () => {
    assert.equal(parseConfig({ admin: { port: 0 } }).admin.port, 0);
    const error = configError(() => parseConfig({ capture: { outboundPort: 0, inboundPort: 1.5, excludedPorts: [65536] } }));
    assert.deepEqual(error.problems.map((p) => p.path), ['capture.outboundPort', 'capture.inboundPort', 'capture.excludedPorts[0]']);
    for (const problem of error.problems) assert.equal(problem.message, 'must be a whole number from 1 to 65535');
  });

  it('the heartbeat timeout must exceed twice the interval', () => {
    assert.equal(parseConfig({ bpf: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 201 } }).bpf.heartbeatTimeoutMs, 201);
    const error = configError(() => parseConfig({ bpf: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 200 } }));
    assert.equal(error.problems[0]?.path, 'bpf.heartbeatTimeoutMs');
    assert.match(error.problems[0]?.message ?? '', /more than twice bpf.heartbeatIntervalMs/);
  });

  it('a non-loopback admin address needs allowRemote, since pods could reach it', () => {
    const error = configError(() => parseConfig({ admin: { address: '0.0.0.0' } }));
    assert.match(error.message, /admin.address: is not a loopback address: the admin port would be reachable from pods/);
    assert.equal(parseConfig({ admin: { address: '0.0.0.0', allowRemote: true } }).admin.address, '0.0.0.0');
    assert.equal(parseConfig({ admin: { address: '127.0.0.53' } }).admin.address, '127.0.0.53');
    configError(() => parseConfig({ admin: { address: 'localhost' } }));
  });

  it('podsRoot is "auto" or an absolute path', () => {
    const error = configError(() => parseConfig({ cgroup: { podsRoot: 'kubepods.slice' } }));
    assert.match(error.message, /cgroup.podsRoot: must be "auto" .* or an absolute path \(got "kubepods.slice"\)/);
  });

  it('a section of the wrong type says it must be a mapping and which keys it takes', () => {
    const error = configError(() => parseConfig({ admin: 4191, capture: [] }));
    assert.deepEqual(
      error.problems.map((p) => `${p.path}: ${p.message} (${p.got ?? ''})`),
      ['capture: must be a mapping of settings (allowed keys: outboundPort, inboundPort, excludedPorts, captureV6) (a list)', 'admin: must be a mapping of settings (allowed keys: address, port, allowRemote) (4191)'],
    );
  });

  it('capture.detectTimeoutMs, moved to proxy.detect.timeoutMs, is refused with where it went, at its line', () => {
    const path = file('moved.yaml', 'capture:\n  detectTimeoutMs: 500\n');
    const error = configError(() => loadConfig({ path, env: {} }));
    assert.equal(error.problems.length, 1, error.message);
    assert.equal(error.problems[0]?.path, 'capture.detectTimeoutMs');
    assert.match(error.problems[0]?.message ?? '', /moved to proxy\.detect\.timeoutMs/);
    assert.match(error.problems[0]?.source ?? '', /moved\.yaml:2:\d+$/);
    assert.equal(loadConfig({ path: file('new.yaml', 'proxy:\n  detect:\n    timeoutMs: 500\n'), env: {} }).proxy.detect.timeoutMs, 500);
  });

  it('a file that is not a mapping at the top level is reported at the top level', () => {
    const error = configError(() => loadConfig({ path: file('list.yaml', '- a\n- b\n'), env: {} }));
    assert.equal(error.problems[0]?.path, '(top level)');
    assert.match(error.problems[0]?.message ?? '', /must be a mapping of settings \(allowed keys: node, cgroup, bpf/);
  });

  it('YAML syntax errors name the file, line and column, all of them', () => {
    const path = file('broken.yaml', 'admin:\n  port: [1\nlog: : x\n');
    const error = configError(() => loadConfig({ path, env: {} }));
    assert.match(error.message, /^cannot parse the config file .*broken\.yaml as YAML \(\d problems?\):/);
    assert.ok(error.problems.length >= 1);
    for (const problem of error.problems) assert.match(problem.source ?? '', /broken\.yaml:\d+:\d+$/);
    assert.ok(!error.message.includes('    at '), 'no stack frames in the message');
  });

  it('duplicate keys in YAML are an error, not a silent last-wins', () => {
    const error = configError(() => loadConfig({ path: file('dup.yaml', 'admin:\n  port: 1\nadmin:\n  port: 2\n'), env: {} }));
    assert.match(error.message, /Map keys must be unique \(from .*dup\.yaml:3:1\)/);
  });

  it('JSON syntax errors name the file and position', () => {
    const error = configError(() => loadConfig({ path: file('broken.json', '{ "admin": { "port": 1, } }'), env: {} }));
    assert.match(error.message, /^cannot parse the config file .*broken\.json as JSON \(1 problem\):\n {2}- \(file\): .*position/);
  });

  it('every schema rule message says what is allowed (no zod default wording leaks out)', () => {
    const bad = {
      node: { name: 5 },
      cgroup: { podsRoot: false },
      bpf: { bpffs: 1, pinDir: 2, heartbeatIntervalMs: 'x', heartbeatTimeoutMs: -1 },
      capture: { outboundPort: 'x', inboundPort: null, excludedPorts: 'x', captureV6: 1 },
      inventory: { file: 3 },
      discovery: { file: '' },
      admin: { address: 1, port: -1, allowRemote: 'no' },
      log: { level: 1 },
      proxy: { detect: { timeoutMs: 1 } },
    };
    const error = configError(() => parseConfig(bad));
    // inboundPort: null is "not set" (YAML's empty value), so it is the one field not reported.
    assert.equal(error.problems.length, 16, error.message);
    assert.ok(!error.problems.some((p) => p.path === 'capture.inboundPort'));
    for (const problem of error.problems) {
      assert.doesNotMatch(problem.message, /Invalid input|expected \w+, received/, `${problem.path}: ${problem.message}`);
      assert.match(problem.message, /must|unknown|is not/, problem.path);
    }
  });

  it('any wrong-typed value in a known field yields a problem at exactly that field', () => {
    const fields = [
      ['node', 'name'],
      ['bpf', 'heartbeatIntervalMs'],
      ['capture', 'outboundPort'],
      ['capture', 'captureV6'],
      ['admin', 'address'],
      ['log', 'level'],
    ] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.oneof(fc.constant([]), fc.constant({}), fc.double({ noInteger: true, noNaN: true })), ([section, key], value) => {
        const result = configSchema.safeParse({ [section]: { [key]: value } });
        assert.equal(result.success, false);
        assert.ok(result.error.issues.some((issue) => issue.path.join('.') === `${section}.${key}`));
      }),
    );
  });
});

describe('config README', () => {
  const readme = readFileSync(new URL('../../../agent/config/README.md', import.meta.url), 'utf8');

  it('documents every setting and every environment variable', () => {
    const paths = settingPaths(configSchema);
    assert.ok(paths.length >= 45, paths.join(', '));
    assert.ok(paths.includes('proxy.route.retry.budget.min') && paths.includes('proxy.routes'), paths.join(', '));
    for (const path of paths) assert.ok(readme.includes(`| \`${path}\` |`), `README lacks ${path}`);
    for (const { variable } of envOverrides) assert.ok(readme.includes(`\`${variable}\``), `README lacks ${variable}`);
  });

  it('its example file is valid', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example !== undefined);
    const config = loadConfig({ path: file('example.yaml', example), env: {} });
    assert.deepEqual(config.capture.excludedPorts, [22]);
    assert.deepEqual(Object.keys(config.proxy.routes), ['payments/ledger:grpc', 'default/legacy:http', '10.0.0.1:80']);
    assert.equal(config.proxy.routes['payments/ledger:grpc']?.retry?.limit, 3);
  });
});

/**
 * Every setting's dotted path: the leaves of the schema's nested mappings, looked up through the
 * defaults, optionals and pipes around them and across the kinds of a union (a retry budget).
 * A mapping of free keys (proxy.routes) is one setting.
 */
function settingPaths(schema: unknown, at = ''): string[] {
  const def = (schema as { _zod: { def: { type: string; innerType?: unknown; in?: unknown; out?: unknown; shape?: Record<string, unknown>; options?: unknown[] } } })._zod.def;
  switch (def.type) {
    case 'prefault':
    case 'default':
    case 'optional':
      return settingPaths(def.innerType, at);
    case 'pipe':
      // A preprocess step in front of a leaf, or a transform after an object.
      return (def.out as { _zod: { def: { type: string } } })._zod.def.type === 'transform' ? settingPaths(def.in, at) : settingPaths(def.out, at);
    case 'object': {
      const paths = Object.entries(def.shape ?? {}).flatMap(([key, inner]) => settingPaths(inner, at === '' ? key : `${at}.${key}`));
      return paths;
    }
    case 'union':
      return [...new Set((def.options ?? []).flatMap((option) => settingPaths(option, at)))];
    default:
      return [at];
  }
}
