// Kernel feature probes for `weft check`: can this kernel load the program and map types weft uses?
#pragma once

#include <napi.h>

namespace weft {

Napi::Value ProbeProgramType(const Napi::CallbackInfo& info);
Napi::Value ProbeMapType(const Napi::CallbackInfo& info);

}  // namespace weft
