#include "errors.h"

#include <cerrno>
#include <cstring>

namespace weft {

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

Napi::Error SystemError(Napi::Env env, const std::string& op, const std::string& subject, int err,
                        const std::string& hint) {
  std::string code = ErrnoName(err);
  std::string message = op + "(" + subject + "): " + code + ": " + (hint.empty() ? std::string(strerror(err)) : hint);
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object object = error.Value();
  object.Set("errno", Napi::Number::New(env, err));
  object.Set("code", Napi::String::New(env, code));
  object.Set("op", Napi::String::New(env, op));
  return error;
}

std::string PrivilegeHint(int err, const std::string& what) {
  if (err == EPERM || err == EACCES) {
    return what + " needs CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_BPF (and no seccomp/LSM denial); run the agent as root";
  }
  return std::string();
}

Napi::Error ArgumentError(Napi::Env env, const std::string& message) {
  Napi::Error error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  return error;
}

}  // namespace weft
