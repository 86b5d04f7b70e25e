// One loaded and attached set of weft's BPF programs (the skeleton from bpf/weft.bpf.c): load with
// rodata knobs set, pin maps and programs under a pin dir, attach links at the pods' cgroup root,
// map I/O by name, and close (detach, unpin, remove the pin dir). Links are never pinned: they die
// with the process, so a crashed agent stops capturing at once (fail open).
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

namespace weft {

struct Loaded;

class Programs : public Napi::ObjectWrap<Programs> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Programs(const Napi::CallbackInfo& info);
  ~Programs() override;

 private:
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapEntries(const Napi::CallbackInfo& info);
  Napi::Value Attachments(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Loaded& Open(Napi::Env env, const char* op);

  std::unique_ptr<Loaded> loaded_;
};

// load(options): NativePrograms
Napi::Value Load(const Napi::CallbackInfo& info);

}  // namespace weft
