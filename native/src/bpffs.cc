#include "bpffs.h"

#include <dirent.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace weft {
namespace {

std::string PathArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty() ||
      info[0].As<Napi::String>().Utf8Value()[0] != '/') {
    throw ArgumentError(info.Env(), std::string(fn) + ": path must be an absolute path");
  }
  return info[0].As<Napi::String>().Utf8Value();
}

int MkdirParents(const std::string& path) {
  for (size_t i = 1; i <= path.size(); i++) {
    if (i != path.size() && path[i] != '/') continue;
    std::string prefix = path.substr(0, i);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

}  // namespace

bool PathIsBpffs(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && static_cast<unsigned long>(fs.f_type) == BPF_FS_MAGIC;
}

int RemovePinTree(const std::string& dir, std::string* where) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    *where = dir;
    return errno;
  }
  int result = 0;
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      result = errno;
      *where = path;
      break;
    }
    int err = S_ISDIR(st.st_mode) ? RemovePinTree(path, where) : (unlink(path.c_str()) == 0 || errno == ENOENT ? 0 : errno);
    if (err != 0) {
      if (where->empty()) *where = path;
      result = err;
      break;
    }
  }
  closedir(d);
  if (result == 0 && rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    result = errno;
    *where = dir;
  }
  return result;
}

Napi::Value IsBpffs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), PathIsBpffs(PathArg(info, "isBpffs")));
}

Napi::Value MountBpffs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = PathArg(info, "mountBpffs");
  if (PathIsBpffs(path)) return env.Undefined();
  if (int err = MkdirParents(path)) throw SystemError(env, "mkdir", path, err, PrivilegeHint(err, "creating the bpffs mount point"));
  // mode=0700: pins give whoever can open them the agent's maps and programs.
  if (mount("bpf", path.c_str(), "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0) {
    int err = errno;
    std::string hint = err == EPERM ? "mounting bpffs needs CAP_SYS_ADMIN in the host mount namespace; run as root or mount it at boot (mount -t bpf bpf " + path + ")"
                       : err == ENODEV ? "the kernel has no bpf filesystem (CONFIG_BPF_SYSCALL)"
                                       : std::string();
    throw SystemError(env, "mount", path, err, hint);
  }
  return env.Undefined();
}

Napi::Value RemovePins(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = PathArg(info, "removePins");
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return env.Undefined();
    throw SystemError(env, "lstat", dir, errno);
  }
  // A recursive delete only ever runs on bpffs: a mistyped pin dir must not empty a real directory.
  if (!S_ISDIR(st.st_mode) || !PathIsBpffs(dir)) {
    throw SystemError(env, "removePins", dir, ENOTDIR, "not a directory on a bpf filesystem; refusing to delete anything there");
  }
  std::string where;
  if (int err = RemovePinTree(dir, &where)) throw SystemError(env, "unlink", where, err, PrivilegeHint(err, "removing bpffs pins"));
  return env.Undefined();
}

}  // namespace weft
