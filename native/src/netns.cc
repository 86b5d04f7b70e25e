#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "errors.h"

namespace weft {
namespace {

// What failed inside the netns; turned into a JS error only after the thread is back home.
struct Failure {
  std::string op;
  std::string subject;
  int err = 0;
  std::string hint;
};

Failure Fail(const std::string& op, const std::string& subject, int err, const std::string& hint = std::string()) {
  return Failure{op, subject, err, hint};
}

// Runs `body` with the calling thread inside the netns at `path`, then returns the thread to the
// netns it started in. `body` must not throw (it runs between two setns calls). If the way back
// fails the process aborts: a JavaScript thread left in a pod's netns would make every later socket
// of the agent inside that pod, which is far worse than a restart.
template <typename Body>
bool InNetns(const std::string& path, Failure* failure, Body body) noexcept {
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    *failure = Fail("open", "/proc/thread-self/ns/net", errno, "is /proc mounted?");
    return false;
  }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(home);
    *failure = Fail("open", path, err,
                    err == ENOENT ? "no such network namespace file; is the pod still running?" : PrivilegeHint(err, "opening a netns"));
    return false;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(home);
    std::string hint = err == EINVAL ? "not a network namespace (use /proc/<pid>/ns/net or /run/netns/<name>)"
                                     : err == EPERM ? "the agent needs CAP_SYS_ADMIN; run as root"
                                                    : std::string();
    *failure = Fail("setns", path, err, hint);
    return false;
  }
  close(target);
  bool ok = body(failure);
  if (setns(home, CLONE_NEWNET) != 0) {
    fprintf(stderr, "weft_native: could not return to the agent's netns after entering %s (%s); aborting\n", path.c_str(),
            strerror(errno));
    abort();
  }
  close(home);
  return ok;
}

struct SocketSpec {
  int family = AF_INET;
  bool listen = false;
  bool hasAddress = false;
  sockaddr_storage address{};
  socklen_t addressLength = 0;
  std::string addressText;
  int port = 0;
  int backlog = 511;  // Node's default
};

SocketSpec ParseSpec(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throw ArgumentError(env, "openSocketInNetns: spec must be an object");
  Napi::Object spec = value.As<Napi::Object>();
  SocketSpec out;
  Napi::Value family = spec.Get("family");
  if (!family.IsNumber()) throw ArgumentError(env, "openSocketInNetns: spec.family must be 4 or 6");
  int f = family.As<Napi::Number>().Int32Value();
  if (f != 4 && f != 6) throw ArgumentError(env, "openSocketInNetns: spec.family must be 4 or 6");
  out.family = f == 4 ? AF_INET : AF_INET6;
  std::string role = spec.Get("role").IsString() ? spec.Get("role").As<Napi::String>().Utf8Value() : "";
  if (role != "listen" && role != "connect") throw ArgumentError(env, "openSocketInNetns: spec.role must be 'listen' or 'connect'");
  out.listen = role == "listen";
  Napi::Value port = spec.Get("port");
  if (!port.IsUndefined()) {
    if (!port.IsNumber()) throw ArgumentError(env, "openSocketInNetns: spec.port must be a number 0..65535");
    double p = port.As<Napi::Number>().DoubleValue();
    if (!(p >= 0 && p <= 65535) || p != static_cast<int>(p)) throw ArgumentError(env, "openSocketInNetns: spec.port must be a number 0..65535");
    out.port = static_cast<int>(p);
  }
  Napi::Value backlog = spec.Get("backlog");
  if (!backlog.IsUndefined()) {
    if (!backlog.IsNumber() || backlog.As<Napi::Number>().Int32Value() < 1) throw ArgumentError(env, "openSocketInNetns: spec.backlog must be a positive number");
    out.backlog = backlog.As<Napi::Number>().Int32Value();
  }
  Napi::Value address = spec.Get("address");
  if (!address.IsUndefined()) {
    if (!address.IsString()) throw ArgumentError(env, "openSocketInNetns: spec.address must be an IP address string");
    out.addressText = address.As<Napi::String>().Utf8Value();
    out.hasAddress = true;
  } else if (out.listen) {
    throw ArgumentError(env, "openSocketInNetns: a listening socket needs spec.address");
  }
  if (out.hasAddress) {
    if (out.family == AF_INET) {
      sockaddr_in* a = reinterpret_cast<sockaddr_in*>(&out.address);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(out.port));
      if (inet_pton(AF_INET, out.addressText.c_str(), &a->sin_addr) != 1) {
        throw ArgumentError(env, "openSocketInNetns: " + out.addressText + " is not an IPv4 address (spec.family is 4)");
      }
      out.addressLength = sizeof(sockaddr_in);
    } else {
      sockaddr_in6* a = reinterpret_cast<sockaddr_in6*>(&out.address);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(out.port));
      if (inet_pton(AF_INET6, out.addressText.c_str(), &a->sin6_addr) != 1) {
        throw ArgumentError(env, "openSocketInNetns: " + out.addressText + " is not an IPv6 address (spec.family is 6)");
      }
      out.addressLength = sizeof(sockaddr_in6);
    }
  }
  return out;
}

std::string Endpoint(const SocketSpec& spec) {
  return spec.family == AF_INET6 ? "[" + spec.addressText + "]:" + std::to_string(spec.port)
                                 : spec.addressText + ":" + std::to_string(spec.port);
}

// Makes the socket; runs inside the target netns, so it only records failures.
bool MakeSocket(const SocketSpec& spec, int* fd, Failure* failure) noexcept {
  int s = socket(spec.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (s < 0) {
    int err = errno;
    *failure = Fail("socket", spec.family == AF_INET6 ? "AF_INET6" : "AF_INET", err,
                    err == EAFNOSUPPORT ? "IPv6 is disabled in this network namespace" : std::string());
    return false;
  }
  int one = 1;
  auto fail = [&](const char* op, const std::string& subject, const std::string& hint = std::string()) {
    int err = errno;
    close(s);
    *failure = Fail(op, subject, err, hint);
    return false;
  };
  if (spec.family == AF_INET6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
    // v6 sockets serve v6 only: the agent opens a separate v4 socket where it wants v4.
    return fail("setsockopt", "IPV6_V6ONLY");
  }
  if (spec.listen) {
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) return fail("setsockopt", "SO_REUSEADDR");
  } else if (spec.hasAddress && spec.port == 0) {
    // Choose the source port at connect() time, not bind() time, so that many connections from one
    // source address do not exhaust the ephemeral range.
    if (setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0) return fail("setsockopt", "IP_BIND_ADDRESS_NO_PORT");
  }
  if (spec.hasAddress && bind(s, reinterpret_cast<const sockaddr*>(&spec.address), spec.addressLength) != 0) {
    int err = errno;
    std::string hint = err == EADDRINUSE       ? "something in that netns already listens there"
                       : err == EADDRNOTAVAIL ? "that address is not configured in the pod's netns (is lo up?)"
                                              : std::string();
    return fail("bind", Endpoint(spec), hint);
  }
  if (spec.listen && ::listen(s, spec.backlog) != 0) return fail("listen", Endpoint(spec));
  *fd = s;
  return true;
}

Napi::Error ToError(Napi::Env env, const Failure& failure) {
  return SystemError(env, failure.op, failure.subject, failure.err, failure.hint);
}

std::string PathArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsString()) throw ArgumentError(info.Env(), std::string(fn) + ": netnsPath must be a string");
  return info[0].As<Napi::String>().Utf8Value();
}

int FdArg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 0) {
    throw ArgumentError(info.Env(), std::string(fn) + ": fd must be a non-negative number");
  }
  return info[0].As<Napi::Number>().Int32Value();
}

bool GetCookie(int fd, uint64_t* cookie, Failure* failure) noexcept {
  socklen_t length = sizeof(*cookie);
  if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &length) != 0) {
    *failure = Fail("getsockopt", "SO_NETNS_COOKIE", errno, errno == ENOPROTOOPT ? "the kernel has no SO_NETNS_COOKIE (needs 5.14+)" : std::string());
    return false;
  }
  return true;
}

}  // namespace

Napi::Value OpenSocketInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = PathArg(info, "openSocketInNetns");
  SocketSpec spec = ParseSpec(env, info[1]);
  Failure failure;
  int fd = -1;
  if (!InNetns(path, &failure, [&](Failure* f) noexcept { return MakeSocket(spec, &fd, f); })) throw ToError(env, failure);
  return Napi::Number::New(env, fd);
}

Napi::Value NetnsCookie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = PathArg(info, "netnsCookie");
  Failure failure;
  uint64_t cookie = 0;
  bool ok = InNetns(path, &failure, [&](Failure* f) noexcept {
    // Any socket carries its netns' cookie; AF_UNIX works even where IPv4 is off.
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      *f = Fail("socket", "AF_UNIX", errno);
      return false;
    }
    bool got = GetCookie(s, &cookie, f);
    close(s);
    return got;
  });
  if (!ok) throw ToError(env, failure);
  return Napi::BigInt::New(env, cookie);
}

Napi::Value SocketNetnsCookie(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, "socketNetnsCookie");
  Failure failure;
  uint64_t cookie = 0;
  if (!GetCookie(fd, &cookie, &failure)) throw ToError(env, failure);
  return Napi::BigInt::New(env, cookie);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, "closeFd");
  // close() failing with EINTR still released the fd on Linux: never retry, only report EBADF.
  if (close(fd) != 0 && errno != EINTR) throw SystemError(env, "close", std::to_string(fd), errno);
  return env.Undefined();
}

Napi::Value MonotonicNs(const Napi::CallbackInfo& info) {
  timespec now{};
  // CLOCK_MONOTONIC is the clock bpf_ktime_get_ns() reads, so the heartbeat compares like for like.
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

}  // namespace weft
