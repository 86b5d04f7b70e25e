#include "abi.h"

#include <sys/socket.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "errors.h"
#include "weft_abi.h"

static_assert(WEFT_AF_INET == AF_INET, "weft_abi.h spells AF_INET as the kernel does");
static_assert(WEFT_AF_INET6 == AF_INET6, "weft_abi.h spells AF_INET6 as the kernel does");

namespace weft {
namespace {

#define WEFT_FIELD(object, type, field)                                                  \
  do {                                                                                   \
    Napi::Object entry = Napi::Object::New(env);                                             \
    entry.Set("offset", Napi::Number::New(env, static_cast<double>(offsetof(type, field)))); \
    entry.Set("size", Napi::Number::New(env, static_cast<double>(sizeof(((type*)nullptr)->field)))); \
    entry.Freeze();                                                                          \
    (object).Set(#field, entry);                                                             \
  } while (0)

Napi::Object Struct(Napi::Env env, size_t size, Napi::Object fields) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("size", Napi::Number::New(env, static_cast<double>(size)));
  fields.Freeze();
  s.Set("fields", fields);
  s.Freeze();
  return s;
}

Napi::Value U64(Napi::Env env, __u64 v) { return Napi::BigInt::New(env, static_cast<uint64_t>(v)); }
Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

Napi::Array Bytes(Napi::Env env, const __u8* bytes, size_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, bytes[i]));
  return a;
}

Napi::Array U16s(Napi::Env env, const __u16* values, size_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, values[i]));
  return a;
}

void SetOrigDst(Napi::Env env, Napi::Object out, const std::string& prefix, const weft_orig_dst& d) {
  out.Set(prefix + "addr", Bytes(env, d.addr, sizeof(d.addr)));
  out.Set(prefix + "port", Num(env, d.port));
  out.Set(prefix + "family", Num(env, d.family));
  out.Set(prefix + "pad", Num(env, d.pad));
  out.Set(prefix + "pod_cgroup_id", U64(env, d.pod_cgroup_id));
}

template <typename T>
bool Read(const Napi::Buffer<uint8_t>& bytes, T* out) {
  if (bytes.Length() != sizeof(T)) return false;
  std::memcpy(out, bytes.Data(), sizeof(T));
  return true;
}

}  // namespace

Napi::Object DescribeAbi(Napi::Env env) {
  Napi::Object structs = Napi::Object::New(env);
  {
    Napi::Object f = Napi::Object::New(env);
    WEFT_FIELD(f, weft_pod_policy, flags);
    WEFT_FIELD(f, weft_pod_policy, reserved);
    structs.Set("weft_pod_policy", Struct(env, sizeof(weft_pod_policy), f));
  }
  {
    Napi::Object f = Napi::Object::New(env);
    WEFT_FIELD(f, weft_pod_counters, captured);
    WEFT_FIELD(f, weft_pod_counters, bypassed);
    WEFT_FIELD(f, weft_pod_counters, failed);
    structs.Set("weft_pod_counters", Struct(env, sizeof(weft_pod_counters), f));
  }
  {
    Napi::Object f = Napi::Object::New(env);
    WEFT_FIELD(f, weft_agent_state, heartbeat_ns);
    structs.Set("weft_agent_state", Struct(env, sizeof(weft_agent_state), f));
  }
  {
    Napi::Object f = Napi::Object::New(env);
    WEFT_FIELD(f, weft_orig_key, netns_cookie);
    WEFT_FIELD(f, weft_orig_key, port);
    WEFT_FIELD(f, weft_orig_key, family);
    WEFT_FIELD(f, weft_orig_key, pad);
    structs.Set("weft_orig_key", Struct(env, sizeof(weft_orig_key), f));
  }
  {
    Napi::Object f = Napi::Object::New(env);
    WEFT_FIELD(f, weft_orig_dst, addr);
    WEFT_FIELD(f, weft_orig_dst, port);
    WEFT_FIELD(f, weft_orig_dst, family);
    WEFT_FIELD(f, weft_orig_dst, pad);
    WEFT_FIELD(f, weft_orig_dst, pod_cgroup_id);
    structs.Set("weft_orig_dst", Struct(env, sizeof(weft_orig_dst), f));
  }
  {
    Napi::Object f = Napi::Object::New(env);
    WEFT_FIELD(f, weft_pending, dst);
    WEFT_FIELD(f, weft_pending, netns_cookie);
    WEFT_FIELD(f, weft_pending, accept_family);
    WEFT_FIELD(f, weft_pending, pad);
    structs.Set("weft_pending", Struct(env, sizeof(weft_pending), f));
  }
  structs.Freeze();

  Napi::Object constants = Napi::Object::New(env);
  constants.Set("WEFT_AF_INET", Num(env, WEFT_AF_INET));
  constants.Set("WEFT_AF_INET6", Num(env, WEFT_AF_INET6));
  constants.Set("WEFT_POD_CAPTURE_V4", Num(env, WEFT_POD_CAPTURE_V4));
  constants.Set("WEFT_POD_CAPTURE_V6", Num(env, WEFT_POD_CAPTURE_V6));
  constants.Set("WEFT_MAX_MESHED_CGROUPS", Num(env, WEFT_MAX_MESHED_CGROUPS));
  constants.Set("WEFT_MAX_EXCLUDED_PORTS", Num(env, WEFT_MAX_EXCLUDED_PORTS));
  constants.Set("WEFT_MAX_PENDING_CONNS", Num(env, WEFT_MAX_PENDING_CONNS));
  constants.Set("WEFT_MAX_ORIG_DST", Num(env, WEFT_MAX_ORIG_DST));
  constants.Set("WEFT_MAX_CGROUP_DEPTH", Num(env, WEFT_MAX_CGROUP_DEPTH));
  constants.Set("WEFT_DEFAULT_REDIRECT_PORT", Num(env, WEFT_DEFAULT_REDIRECT_PORT));
  constants.Freeze();

  Napi::Object abi = Napi::Object::New(env);
  abi.Set("version", Num(env, WEFT_ABI_VERSION));
  abi.Set("structs", structs);
  abi.Set("constants", constants);
  abi.Freeze();
  return abi;
}

Napi::Value AbiDescribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer()) {
    throw ArgumentError(env, "abiDescribe(struct: string, bytes: Buffer)");
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> bytes = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Object out = Napi::Object::New(env);
  auto wrongSize = [&](size_t want) {
    return ArgumentError(env, "abiDescribe(" + name + "): " + std::to_string(bytes.Length()) + " bytes, the struct has " +
                                  std::to_string(want));
  };

  if (name == "weft_pod_policy") {
    weft_pod_policy v;
    if (!Read(bytes, &v)) throw wrongSize(sizeof(v));
    out.Set("flags", Num(env, v.flags));
    out.Set("reserved", Num(env, v.reserved));
  } else if (name == "weft_pod_counters") {
    weft_pod_counters v;
    if (!Read(bytes, &v)) throw wrongSize(sizeof(v));
    out.Set("captured", U64(env, v.captured));
    out.Set("bypassed", U64(env, v.bypassed));
    out.Set("failed", U64(env, v.failed));
  } else if (name == "weft_agent_state") {
    weft_agent_state v;
    if (!Read(bytes, &v)) throw wrongSize(sizeof(v));
    out.Set("heartbeat_ns", U64(env, v.heartbeat_ns));
  } else if (name == "weft_orig_key") {
    weft_orig_key v;
    if (!Read(bytes, &v)) throw wrongSize(sizeof(v));
    out.Set("netns_cookie", U64(env, v.netns_cookie));
    out.Set("port", Num(env, v.port));
    out.Set("family", Num(env, v.family));
    out.Set("pad", Num(env, v.pad));
  } else if (name == "weft_orig_dst") {
    weft_orig_dst v;
    if (!Read(bytes, &v)) throw wrongSize(sizeof(v));
    SetOrigDst(env, out, "", v);
  } else if (name == "weft_pending") {
    weft_pending v;
    if (!Read(bytes, &v)) throw wrongSize(sizeof(v));
    SetOrigDst(env, out, "dst.", v.dst);
    out.Set("netns_cookie", U64(env, v.netns_cookie));
    out.Set("accept_family", Num(env, v.accept_family));
    out.Set("pad", U16s(env, v.pad, 3));
  } else {
    throw ArgumentError(env, "abiDescribe: unknown struct " + name);
  }
  return out;
}

}  // namespace weft
