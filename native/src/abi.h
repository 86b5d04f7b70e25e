// The layout of bpf/include/weft_abi.h as data (offsetof/sizeof, never restated by hand), for
// agent/intercept/abi.ts to encode from, and a decoder that reads bytes through the C structs
// themselves, for the cross-language ABI tests.
#pragma once

#include <napi.h>

namespace weft {

Napi::Object DescribeAbi(Napi::Env env);
Napi::Value AbiDescribe(const Napi::CallbackInfo& info);

}  // namespace weft
