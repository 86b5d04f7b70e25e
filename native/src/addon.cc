// weft_native: the Node-API surface agent/intercept/addon.ts declares. Everything here is synchronous
// and runs on the JavaScript thread: each call is a few system calls, and setns must happen on the
// thread that then returns to its own netns.
#include <napi.h>

#include "abi.h"
#include "bpffs.h"
#include "libbpf_log.h"
#include "netns.h"
#include "probe.h"
#include "programs.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  weft::InstallLibbpfLog();
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(weft::Programs::Define(env))));
  exports.Set("abi", weft::DescribeAbi(env));
  exports.Set("load", Napi::Function::New(env, weft::Load, "load"));
  exports.Set("removePins", Napi::Function::New(env, weft::RemovePins, "removePins"));
  exports.Set("isBpffs", Napi::Function::New(env, weft::IsBpffs, "isBpffs"));
  exports.Set("mountBpffs", Napi::Function::New(env, weft::MountBpffs, "mountBpffs"));
  exports.Set("openSocketInNetns", Napi::Function::New(env, weft::OpenSocketInNetns, "openSocketInNetns"));
  exports.Set("netnsCookie", Napi::Function::New(env, weft::NetnsCookie, "netnsCookie"));
  exports.Set("socketNetnsCookie", Napi::Function::New(env, weft::SocketNetnsCookie, "socketNetnsCookie"));
  exports.Set("closeFd", Napi::Function::New(env, weft::CloseFd, "closeFd"));
  exports.Set("monotonicNs", Napi::Function::New(env, weft::MonotonicNs, "monotonicNs"));
  exports.Set("probeProgramType", Napi::Function::New(env, weft::ProbeProgramType, "probeProgramType"));
  exports.Set("probeMapType", Napi::Function::New(env, weft::ProbeMapType, "probeMapType"));
  exports.Set("abiDescribe", Napi::Function::New(env, weft::AbiDescribe, "abiDescribe"));
  return exports;
}

}  // namespace

NODE_API_MODULE(weft_native, Init)
