#include "programs.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bpffs.h"
#include "errors.h"
#include "libbpf_log.h"
#include "weft.skel.h"
#include "weft_abi.h"

namespace weft {

struct Attached {
  std::string program;
  bpf_program* prog = nullptr;
  bpf_link* link = nullptr;
};

struct Loaded {
  ::weft_bpf* skel = nullptr;
  std::vector<Attached> links;
  std::vector<std::string> pins;
  std::string pinDir;
  std::string cgroupPath;
  bool createdPinDir = false;
};

namespace {

// The maps JavaScript may touch, by name; the skeleton's .rodata is not one of them.
bpf_map* MapByName(::weft_bpf* skel, const std::string& name) {
  if (name == "meshed_cgroups") return skel->maps.meshed_cgroups;
  if (name == "pod_counters") return skel->maps.pod_counters;
  if (name == "excluded_ports") return skel->maps.excluded_ports;
  if (name == "agent_state") return skel->maps.agent_state;
  if (name == "conn_pending") return skel->maps.conn_pending;
  if (name == "orig_dst") return skel->maps.orig_dst;
  if (name == "sock_origin") return skel->maps.sock_origin;
  return nullptr;
}

const char* const kMapNames[] = {"meshed_cgroups", "pod_counters", "excluded_ports", "agent_state", "conn_pending", "orig_dst", "sock_origin"};

// Detach, unpin, remove the pin dir, free the object: in that order, so programs stop running
// before anything they use disappears. Never throws; safe on a half-built Loaded.
void Teardown(Loaded& loaded) {
  for (Attached& a : loaded.links) {
    if (a.link != nullptr) bpf_link__destroy(a.link);
    a.link = nullptr;
  }
  loaded.links.clear();
  for (const std::string& pin : loaded.pins) unlink(pin.c_str());
  loaded.pins.clear();
  if (!loaded.pinDir.empty()) rmdir(loaded.pinDir.c_str());
  if (loaded.skel != nullptr) weft_bpf__destroy(loaded.skel);
  loaded.skel = nullptr;
}

std::string StringOption(Napi::Env env, Napi::Object options, const char* key) {
  Napi::Value v = options.Get(key);
  if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty() || v.As<Napi::String>().Utf8Value()[0] != '/') {
    throw ArgumentError(env, std::string("load: options.") + key + " must be an absolute path");
  }
  return v.As<Napi::String>().Utf8Value();
}

uint64_t BigIntOption(Napi::Env env, Napi::Object options, const char* key) {
  Napi::Value v = options.Get(key);
  if (!v.IsBigInt()) throw ArgumentError(env, std::string("load: options.") + key + " must be a bigint");
  bool lossless = false;
  uint64_t n = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw ArgumentError(env, std::string("load: options.") + key + " must fit in 64 unsigned bits");
  return n;
}

uint32_t NumberOption(Napi::Env env, Napi::Object options, const char* key, uint32_t min, uint32_t max, uint32_t fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= min && d <= max) || d != static_cast<uint32_t>(d)) {
    throw ArgumentError(env, std::string("load: options.") + key + " must be an integer " + std::to_string(min) + ".." + std::to_string(max));
  }
  return static_cast<uint32_t>(d);
}

int MkdirParents(const std::string& path) {
  for (size_t i = 1; i <= path.size(); i++) {
    if (i != path.size() && path[i] != '/') continue;
    if (mkdir(path.substr(0, i).c_str(), 0700) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

Napi::Error Closed(Napi::Env env, const char* op) {
  return SystemError(env, op, "weft programs", EBADF, "the programs are closed (close() was called); load them again");
}

struct MapArg {
  bpf_map* map;
  std::string name;
};

MapArg MapArgument(Napi::Env env, ::weft_bpf* skel, const Napi::CallbackInfo& info, const char* op) {
  if (info.Length() < 1 || !info[0].IsString()) throw ArgumentError(env, std::string(op) + ": map must be a map name");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bpf_map* map = MapByName(skel, name);
  if (map == nullptr) throw ArgumentError(env, std::string(op) + ": unknown map " + name);
  return MapArg{map, name};
}

Napi::Buffer<uint8_t> BufferArgument(Napi::Env env, const Napi::CallbackInfo& info, size_t index, size_t want, const MapArg& map,
                                     const char* what, const char* op) {
  if (info.Length() <= index || !info[index].IsBuffer()) throw ArgumentError(env, std::string(op) + ": " + what + " must be a Buffer");
  Napi::Buffer<uint8_t> b = info[index].As<Napi::Buffer<uint8_t>>();
  if (b.Length() != want) {
    throw ArgumentError(env, std::string(op) + "(" + map.name + "): " + what + " is " + std::to_string(b.Length()) + " bytes, the map's is " +
                                 std::to_string(want));
  }
  return b;
}

}  // namespace

Napi::Function Programs::Define(Napi::Env env) {
  return DefineClass(env, "NativePrograms",
                     {
                         InstanceMethod<&Programs::MapUpdate>("mapUpdate"),
                         InstanceMethod<&Programs::MapLookup>("mapLookup"),
                         InstanceMethod<&Programs::MapDelete>("mapDelete"),
                         InstanceMethod<&Programs::MapEntries>("mapEntries"),
                         InstanceMethod<&Programs::Attachments>("attachments"),
                         InstanceMethod<&Programs::Close>("close"),
                     });
}

// Only Load() constructs these, handing over the Loaded through an External.
Programs::Programs(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Programs>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw ArgumentError(info.Env(), "NativePrograms cannot be constructed directly; use load(options)");
  }
  loaded_.reset(info[0].As<Napi::External<Loaded>>().Data());
}

// Garbage-collected without close(): still detach and unpin, or the programs would outlive the
// only object that can reach them.
Programs::~Programs() {
  if (loaded_) Teardown(*loaded_);
}

Loaded& Programs::Open(Napi::Env env, const char* op) {
  if (!loaded_) throw Closed(env, op);
  return *loaded_;
}

Napi::Value Programs::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& loaded = Open(env, "mapUpdate");
  MapArg map = MapArgument(env, loaded.skel, info, "mapUpdate");
  auto key = BufferArgument(env, info, 1, bpf_map__key_size(map.map), map, "key", "mapUpdate");
  auto value = BufferArgument(env, info, 2, bpf_map__value_size(map.map), map, "value", "mapUpdate");
  int err = bpf_map__update_elem(map.map, key.Data(), key.Length(), value.Data(), value.Length(), BPF_ANY);
  if (err != 0) {
    err = -err;
    std::string hint = err == E2BIG ? "the map is full (" + std::to_string(bpf_map__max_entries(map.map)) +
                                          " entries); remove entries or raise its capacity in bpf/include/weft_abi.h"
                                    : PrivilegeHint(err, "writing a BPF map");
    throw SystemError(env, "bpf_map_update_elem", map.name, err, hint);
  }
  return env.Undefined();
}

Napi::Value Programs::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& loaded = Open(env, "mapLookup");
  MapArg map = MapArgument(env, loaded.skel, info, "mapLookup");
  auto key = BufferArgument(env, info, 1, bpf_map__key_size(map.map), map, "key", "mapLookup");
  std::vector<uint8_t> value(bpf_map__value_size(map.map));
  int err = bpf_map__lookup_elem(map.map, key.Data(), key.Length(), value.data(), value.size(), 0);
  if (err == -ENOENT) return env.Null();
  if (err != 0) throw SystemError(env, "bpf_map_lookup_elem", map.name, -err);
  return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
}

Napi::Value Programs::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& loaded = Open(env, "mapDelete");
  MapArg map = MapArgument(env, loaded.skel, info, "mapDelete");
  auto key = BufferArgument(env, info, 1, bpf_map__key_size(map.map), map, "key", "mapDelete");
  int err = bpf_map__delete_elem(map.map, key.Data(), key.Length(), 0);
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err != 0) {
    std::string hint = err == -EINVAL && bpf_map__type(map.map) == BPF_MAP_TYPE_ARRAY ? "array entries cannot be deleted; write zeroes" : std::string();
    throw SystemError(env, "bpf_map_delete_elem", map.name, -err, hint);
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value Programs::MapEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& loaded = Open(env, "mapEntries");
  MapArg map = MapArgument(env, loaded.skel, info, "mapEntries");
  size_t keySize = bpf_map__key_size(map.map);
  std::vector<uint8_t> key(keySize), next(keySize), value(bpf_map__value_size(map.map));
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  const void* previous = nullptr;  // null: start from the first key
  for (;;) {
    int err = bpf_map__get_next_key(map.map, previous, next.data(), keySize);
    if (err == -ENOENT) break;
    if (err != 0) throw SystemError(env, "bpf_map_get_next_key", map.name, -err);
    key.swap(next);
    previous = key.data();
    err = bpf_map__lookup_elem(map.map, key.data(), keySize, value.data(), value.size(), 0);
    if (err == -ENOENT) continue;  // deleted (or evicted) between the two calls
    if (err != 0) throw SystemError(env, "bpf_map_lookup_elem", map.name, -err);
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Buffer<uint8_t>::Copy(env, key.data(), keySize));
    pair.Set(1u, Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size()));
    out.Set(n++, pair);
  }
  return out;
}

Napi::Value Programs::Attachments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded& loaded = Open(env, "attachments");
  Napi::Array out = Napi::Array::New(env, loaded.links.size());
  uint32_t i = 0;
  for (const Attached& a : loaded.links) {
    bpf_prog_info progInfo{};
    uint32_t progLength = sizeof(progInfo);
    bpf_link_info linkInfo{};
    uint32_t linkLength = sizeof(linkInfo);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(a.prog), &progInfo, &progLength) != 0) {
      throw SystemError(env, "bpf_obj_get_info_by_fd", a.program, errno);
    }
    if (bpf_obj_get_info_by_fd(bpf_link__fd(a.link), &linkInfo, &linkLength) != 0) {
      throw SystemError(env, "bpf_obj_get_info_by_fd", a.program + " link", errno);
    }
    const char* type = libbpf_bpf_attach_type_str(bpf_program__expected_attach_type(a.prog));
    Napi::Object o = Napi::Object::New(env);
    o.Set("program", Napi::String::New(env, a.program));
    o.Set("attachType", Napi::String::New(env, type == nullptr ? "unknown" : type));
    o.Set("cgroupPath", Napi::String::New(env, loaded.cgroupPath));
    o.Set("programId", Napi::Number::New(env, progInfo.id));
    o.Set("linkId", Napi::Number::New(env, linkInfo.id));
    out.Set(i++, o);
  }
  return out;
}

Napi::Value Programs::Close(const Napi::CallbackInfo& info) {
  if (loaded_) {
    Teardown(*loaded_);
    loaded_.reset();
  }
  return info.Env().Undefined();
}

Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw ArgumentError(env, "load(options): options must be an object");
  Napi::Object options = info[0].As<Napi::Object>();
  std::string pinDir = StringOption(env, options, "pinDir");
  std::string cgroupPath = StringOption(env, options, "cgroupPath");
  uint64_t agentCgroupId = BigIntOption(env, options, "agentCgroupId");
  uint64_t heartbeatTimeoutNs = BigIntOption(env, options, "heartbeatTimeoutNs");
  uint32_t redirectPort = NumberOption(env, options, "redirectPort", 1, 65535, WEFT_DEFAULT_REDIRECT_PORT);
  uint32_t maxDepth = NumberOption(env, options, "maxCgroupDepth", 1, WEFT_MAX_CGROUP_DEPTH, WEFT_MAX_CGROUP_DEPTH);
  if (heartbeatTimeoutNs == 0) throw ArgumentError(env, "load: options.heartbeatTimeoutNs must be above 0");

  auto loaded = std::make_unique<Loaded>();
  loaded->cgroupPath = cgroupPath;
  // Any failure below undoes everything done so far, then throws.
  auto fail = [&](Napi::Error error) -> Napi::Error {
    Teardown(*loaded);
    return error;
  };

  ClearLibbpfLog();
  loaded->skel = weft_bpf__open();
  if (loaded->skel == nullptr) {
    int err = errno;
    throw fail(SystemError(env, "bpf_object__open", "weft", err, "the embedded BPF object did not open: " + LibbpfLogTail(5)));
  }
  loaded->skel->rodata->redirect_port = static_cast<__u16>(redirectPort);
  loaded->skel->rodata->heartbeat_timeout_ns = heartbeatTimeoutNs;
  loaded->skel->rodata->agent_cgroup_id = agentCgroupId;
  loaded->skel->rodata->max_cgroup_depth = maxDepth;

  int err = weft_bpf__load(loaded->skel);
  if (err != 0) {
    err = -err;
    std::string hint = PrivilegeHint(err, "loading BPF programs");
    if (hint.empty()) hint = "the kernel refused the programs (run `weft check`); libbpf said:\n" + LibbpfLogTail();
    throw fail(SystemError(env, "bpf_object__load", "weft", err, hint));
  }

  if (int e = MkdirParents(pinDir)) throw fail(SystemError(env, "mkdir", pinDir, e, PrivilegeHint(e, "creating the pin dir")));
  loaded->pinDir = pinDir;
  if (!PathIsBpffs(pinDir)) {
    throw fail(SystemError(env, "pin", pinDir, EINVAL, "the pin dir is not on a bpf filesystem; mount bpffs (mount -t bpf bpf /sys/fs/bpf) first"));
  }
  for (const char* name : kMapNames) {
    std::string path = pinDir + "/" + name;
    if (int e = bpf_map__pin(MapByName(loaded->skel, name), path.c_str())) {
      e = -e;
      throw fail(SystemError(env, "bpf_obj_pin", path, e, e == EEXIST ? "a pin of another agent is there; remove stale pins first (removePins)" : std::string()));
    }
    loaded->pins.push_back(path);
  }
  bpf_program* progs[] = {loaded->skel->progs.weft_connect4, loaded->skel->progs.weft_connect6, loaded->skel->progs.weft_sockops,
                         loaded->skel->progs.weft_getpeername4, loaded->skel->progs.weft_getpeername6};
  for (bpf_program* prog : progs) {
    std::string path = pinDir + "/" + bpf_program__name(prog);
    if (int e = bpf_program__pin(prog, path.c_str())) {
      e = -e;
      throw fail(SystemError(env, "bpf_obj_pin", path, e, e == EEXIST ? "a pin of another agent is there; remove stale pins first (removePins)" : std::string()));
    }
    loaded->pins.push_back(path);
  }

  int cgroup = open(cgroupPath.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) {
    int e = errno;
    throw fail(SystemError(env, "open", cgroupPath, e, e == ENOENT ? "no such cgroup: is the pods root right (cgroup2 mount + kubepods path)?" : std::string()));
  }
  for (bpf_program* prog : progs) {
    bpf_link* link = bpf_program__attach_cgroup(prog, cgroup);
    if (link == nullptr) {
      int e = errno;
      close(cgroup);
      std::string hint = PrivilegeHint(e, "attaching BPF programs to a cgroup");
      if (hint.empty() && e == EBADF) hint = "not a cgroup2 directory (BPF attaches to the unified hierarchy only)";
      throw fail(SystemError(env, "bpf_link_create", std::string(bpf_program__name(prog)) + " -> " + cgroupPath, e, hint));
    }
    loaded->links.push_back(Attached{bpf_program__name(prog), prog, link});
  }
  close(cgroup);

  Napi::FunctionReference* constructor = env.GetInstanceData<Napi::FunctionReference>();
  Loaded* raw = loaded.release();
  try {
    return constructor->New({Napi::External<Loaded>::New(env, raw)});
  } catch (...) {
    Teardown(*raw);
    delete raw;
    throw;
  }
}

}  // namespace weft
