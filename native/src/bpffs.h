// bpffs: is it mounted, mount it, and remove the pins a dead agent left behind.
#pragma once

#include <napi.h>

#include <string>

namespace weft {

bool PathIsBpffs(const std::string& path);
// Removes every pin under dir, then dir itself. Returns 0 or an errno; *where names the path that failed.
int RemovePinTree(const std::string& dir, std::string* where);

Napi::Value IsBpffs(const Napi::CallbackInfo& info);
Napi::Value MountBpffs(const Napi::CallbackInfo& info);
Napi::Value RemovePins(const Napi::CallbackInfo& info);

}  // namespace weft
