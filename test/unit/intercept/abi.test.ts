// The ABI seen from both languages: what TypeScript encodes (with offsets the addon reported) is what
// the C structs read back (the addon's abiDescribe memcpy's the bytes into the real struct), for
// arbitrary values; and address text ⇄ bytes agrees with Node's own IP parser.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { BlockList, SocketAddress } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createAbiCodecs, formatIp, ipToBytes, isV4Mapped, parseIp, unmapV4 } from '../../../agent/intercept/abi.ts';
import type { AbiCodecs, IpFamily, OrigDst } from '../../../agent/intercept/abi.ts';
import type { AbiDescription, NativeAddon } from '../../../agent/intercept/addon.ts';
import { ADDON_PATH, nativeAddon } from '../../../agent/intercept/addon.ts';

const skip = existsSync(ADDON_PATH) ? false : `the native addon is not built (${ADDON_PATH}); run \`npm run setup\``;
if (skip !== false) {
  if (process.env['WEFT_TEST_NO_SKIP'] === '1') throw new Error(`abi tests cannot run: ${skip} (WEFT_TEST_NO_SKIP=1 forbids skipping)`);
  console.warn(`WEFT TEST SKIPPED intercept/abi: ${skip}`);
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u16 = fc.integer({ min: 0, max: 0xffff });
const family = fc.constantFrom<IpFamily>(4, 6);
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
// fc.record builds null-prototype objects; spread into plain ones so deepStrictEqual compares values only.
const origDst: fc.Arbitrary<OrigDst> = fc.record({ addr, port: u16, family, podCgroupId: u64 }).map((dst) => ({ ...dst }));

// Header sizes, as asserted by _Static_assert in bpf/include/weft_abi.h.
const HEADER_SIZES: Record<string, number> = {
  weft_pod_policy: 8,
  weft_pod_counters: 24,
  weft_agent_state: 8,
  weft_orig_key: 16,
  weft_orig_dst: 32,
  weft_pending: 48,
};

describe('ABI codecs against the C structs', { skip }, () => {
  let addon: NativeAddon;
  let codecs: AbiCodecs;
  const af = (f: IpFamily): number => (f === 4 ? codecs.constants.afInet : codecs.constants.afInet6);

  test('the addon loads and its layout passes the codec checks', () => {
    addon = nativeAddon();
    codecs = createAbiCodecs(addon.abi);
    assert.equal(codecs.constants.afInet, 2);
    assert.equal(codecs.constants.afInet6, 10);
  });

  test('every struct size equals the header’s, and each codec uses it', () => {
    for (const [name, size] of Object.entries(HEADER_SIZES)) assert.equal(addon.abi.structs[name]?.size, size, name);
    for (const codec of [codecs.podPolicy, codecs.podCounters, codecs.agentState, codecs.origKey, codecs.origDst, codecs.pending]) {
      assert.equal(codec.size, HEADER_SIZES[codec.name], codec.name);
      assert.equal(codec.size % 8, 0, `${codec.name} is 8-byte aligned`);
    }
  });

  test('pod policy: TS flags read back from C, and round trip', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), (v4, v6) => {
        const bytes = codecs.podPolicy.encode({ v4, v6 });
        assert.deepEqual(addon.abiDescribe('weft_pod_policy', bytes), { flags: (v4 ? 1 : 0) | (v6 ? 2 : 0), reserved: 0 });
        assert.deepEqual(codecs.podPolicy.decode(bytes), { v4, v6 });
      }),
    );
  });

  test('pod counters and agent state: u64s read back from C, and round trip', () => {
    fc.assert(
      fc.property(u64, u64, u64, (captured, bypassed, failed) => {
        const bytes = codecs.podCounters.encode({ captured, bypassed, failed });
        assert.deepEqual(addon.abiDescribe('weft_pod_counters', bytes), { captured, bypassed, failed });
        assert.deepEqual(codecs.podCounters.decode(bytes), { captured, bypassed, failed });
      }),
    );
    fc.assert(
      fc.property(u64, (heartbeatNs) => {
        const bytes = codecs.agentState.encode({ heartbeatNs });
        assert.deepEqual(addon.abiDescribe('weft_agent_state', bytes), { heartbeat_ns: heartbeatNs });
        assert.deepEqual(codecs.agentState.decode(bytes), { heartbeatNs });
      }),
    );
  });

  test('orig key: fields read back from C with zero padding (it is a hash key), and round trip', () => {
    fc.assert(
      fc.property(u64, u16, family, (netnsCookie, port, f) => {
        const bytes = codecs.origKey.encode({ netnsCookie, port, family: f });
        assert.deepEqual(addon.abiDescribe('weft_orig_key', bytes), { netns_cookie: netnsCookie, port, family: af(f), pad: 0 });
        assert.deepEqual(codecs.origKey.decode(bytes), { netnsCookie, port, family: f });
      }),
    );
  });

  test('orig dst: address bytes, port, family and pod cgroup read back from C, and round trip', () => {
    fc.assert(
      fc.property(origDst, (dst) => {
        const bytes = codecs.origDst.encode(dst);
        assert.deepEqual(addon.abiDescribe('weft_orig_dst', bytes), {
          addr: [...dst.addr],
          port: dst.port,
          family: af(dst.family),
          pad: 0,
          pod_cgroup_id: dst.podCgroupId,
        });
        assert.deepEqual(codecs.origDst.decode(bytes), dst);
      }),
    );
  });

  test('pending: the nested orig dst sits where C puts it, and round trip', () => {
    fc.assert(
      fc.property(origDst, u64, family, (dst, netnsCookie, acceptFamily) => {
        const bytes = codecs.pending.encode({ dst, netnsCookie, acceptFamily });
        assert.deepEqual(addon.abiDescribe('weft_pending', bytes), {
          'dst.addr': [...dst.addr],
          'dst.port': dst.port,
          'dst.family': af(dst.family),
          'dst.pad': 0,
          'dst.pod_cgroup_id': dst.podCgroupId,
          netns_cookie: netnsCookie,
          accept_family: af(acceptFamily),
          pad: [0, 0, 0],
        });
        assert.deepEqual(codecs.pending.decode(bytes), { dst, netnsCookie, acceptFamily });
      }),
    );
  });

  test('map keys: u64 and u32 in host byte order, as the C side reads them', () => {
    fc.assert(
      fc.property(u64, (id) => {
        // weft_agent_state is one u64: the C struct reads the key bytes the way the map does.
        assert.deepEqual(addon.abiDescribe('weft_agent_state', codecs.u64.encode(id)), { heartbeat_ns: id });
        assert.equal(codecs.u64.decode(codecs.u64.encode(id)), id);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const policy = Buffer.concat([codecs.u32.encode(n), Buffer.alloc(4)]);
        assert.equal(addon.abiDescribe('weft_pod_policy', policy)['flags'], n);
        assert.equal(codecs.u32.decode(codecs.u32.encode(n)), n);
      }),
    );
  });

  test('decoding refuses a buffer of the wrong size, on both sides', () => {
    assert.throws(() => codecs.origDst.decode(Buffer.alloc(31)), { code: 'WEFT_E_INTERCEPT_ABI' });
    assert.throws(() => addon.abiDescribe('weft_orig_dst', Buffer.alloc(31)), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => addon.abiDescribe('weft_nothing', Buffer.alloc(8)), { code: 'ERR_INVALID_ARG_VALUE' });
  });

  test('a layout that does not match what abi.ts writes is refused at start, naming the field', () => {
    const abi = addon.abi;
    const withField = (struct: string, field: string, change: { offset: number; size: number } | undefined): AbiDescription => {
      const original = abi.structs[struct];
      assert.ok(original);
      const fields = { ...original.fields };
      if (change === undefined) delete fields[field];
      else fields[field] = change;
      return { ...abi, structs: { ...abi.structs, [struct]: { size: original.size, fields } } };
    };
    assert.throws(() => createAbiCodecs(withField('weft_orig_key', 'port', { offset: 8, size: 4 })), {
      code: 'WEFT_E_INTERCEPT_ABI',
      message: /weft_orig_key\.port is 4 bytes/,
    });
    assert.throws(() => createAbiCodecs(withField('weft_orig_dst', 'pod_cgroup_id', undefined)), {
      code: 'WEFT_E_INTERCEPT_ABI',
      message: /weft_orig_dst has no field pod_cgroup_id/,
    });
    assert.throws(() => createAbiCodecs({ ...abi, version: abi.version + 1 }), { code: 'WEFT_E_INTERCEPT_ABI', message: /WEFT_ABI_VERSION/ });
    const { weft_pending: _dropped, ...rest } = abi.structs;
    assert.throws(() => createAbiCodecs({ ...abi, structs: rest }), { code: 'WEFT_E_INTERCEPT_ABI', message: /no struct weft_pending/ });
  });
});

describe('IP address text ⇄ bytes', () => {
  test('IPv4 fills the first 4 bytes in network order, the rest zero', () => {
    const ip = ipToBytes('198.18.0.10');
    assert.equal(ip.family, 4);
    assert.deepEqual([...ip.bytes], [198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(formatIp(ip), '198.18.0.10');
  });

  test('IPv6 text is RFC 5952; mapped addresses print as ::ffff:a.b.c.d and unmap to IPv4', () => {
    assert.equal(formatIp(ipToBytes('2001:DB8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
    assert.equal(formatIp(ipToBytes('0:0:0:0:0:0:0:1')), '::1');
    assert.equal(formatIp(ipToBytes('::')), '::');
    assert.equal(formatIp(ipToBytes('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
    const mapped = ipToBytes('::ffff:198.18.0.1');
    assert.equal(mapped.family, 6);
    assert.ok(isV4Mapped(mapped.bytes));
    assert.equal(formatIp(mapped), '::ffff:198.18.0.1');
    assert.equal(formatIp(unmapV4(mapped)), '198.18.0.1');
    assert.equal(unmapV4(ipToBytes('::1')).family, 6);
  });

  test('anything that is not an address is refused', () => {
    for (const bad of ['', 'localhost', '1.2.3', '1.2.3.256', '::1::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', '[::1]', '12345::']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    assert.throws(() => ipToBytes('example.com'), { code: 'WEFT_E_INTERCEPT_ADDRESS' });
  });

  test('any IPv4 or IPv6 text parses to the address Node parses, and formats back to an equal one', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const ip = ipToBytes(text);
        const formatted = formatIp(ip);
        const list = new BlockList();
        list.addAddress(text, ip.family === 4 ? 'ipv4' : 'ipv6');
        assert.ok(list.check(formatted, ip.family === 4 ? 'ipv4' : 'ipv6'), `${text} → ${formatted}`);
        assert.deepEqual(ipToBytes(formatted), ip);
      }),
    );
  });

  test('any 16 bytes format to text that parses back to the same bytes, and Node agrees on the text', () => {
    fc.assert(
      fc.property(addr, (bytes) => {
        const formatted = formatIp({ family: 6, bytes });
        assert.deepEqual([...ipToBytes(formatted).bytes], [...bytes]);
        const canonical = new SocketAddress({ address: formatted, family: 'ipv6' }).address;
        assert.deepEqual([...ipToBytes(canonical).bytes], [...bytes]);
      }),
    );
  });
});
