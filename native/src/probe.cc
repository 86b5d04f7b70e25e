#include "probe.h"

#include <bpf/libbpf.h>

#include <string>

#include "errors.h"

namespace weft {
namespace {

std::string NameArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsString()) throw ArgumentError(info.Env(), std::string(fn) + ": type must be a string");
  return info[0].As<Napi::String>().Utf8Value();
}

// libbpf answers 1 (supported), 0 (not), or a negative errno (could not tell, e.g. EPERM): only 1 is yes.
Napi::Value Answer(const Napi::CallbackInfo& info, int result) { return Napi::Boolean::New(info.Env(), result == 1); }

}  // namespace

Napi::Value ProbeProgramType(const Napi::CallbackInfo& info) {
  std::string name = NameArg(info, "probeProgramType");
  bpf_prog_type type;
  if (name == "cgroup_sock_addr") type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
  else if (name == "sock_ops") type = BPF_PROG_TYPE_SOCK_OPS;
  else if (name == "sk_msg") type = BPF_PROG_TYPE_SK_MSG;
  else if (name == "cgroup_sockopt") type = BPF_PROG_TYPE_CGROUP_SOCKOPT;
  else if (name == "sk_skb") type = BPF_PROG_TYPE_SK_SKB;
  else throw ArgumentError(info.Env(), "probeProgramType: unknown program type " + name);
  return Answer(info, libbpf_probe_bpf_prog_type(type, nullptr));
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  std::string name = NameArg(info, "probeMapType");
  bpf_map_type type;
  if (name == "hash") type = BPF_MAP_TYPE_HASH;
  else if (name == "lru_hash") type = BPF_MAP_TYPE_LRU_HASH;
  else if (name == "array") type = BPF_MAP_TYPE_ARRAY;
  else if (name == "sockhash") type = BPF_MAP_TYPE_SOCKHASH;
  else throw ArgumentError(info.Env(), "probeMapType: unknown map type " + name);
  return Answer(info, libbpf_probe_bpf_map_type(type, nullptr));
}

}  // namespace weft
