// Sockets made inside another network namespace. The calling (JavaScript) thread enters the netns,
// makes the socket and returns to its own netns in one synchronous call, so no JavaScript ever runs
// in a pod's netns; the fd keeps its netns for life, and Node adopts it (listen({ fd }), Socket({ fd })).
#pragma once

#include <napi.h>

namespace weft {

Napi::Value OpenSocketInNetns(const Napi::CallbackInfo& info);
Napi::Value NetnsCookie(const Napi::CallbackInfo& info);
Napi::Value SocketNetnsCookie(const Napi::CallbackInfo& info);
Napi::Value CloseFd(const Napi::CallbackInfo& info);
Napi::Value MonotonicNs(const Napi::CallbackInfo& info);

}  // namespace weft
