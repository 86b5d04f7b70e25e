// libbpf's messages (above all the verifier log it prints when a load fails) are kept in memory, not
// printed: the addon puts their tail into the error it throws, where the agent's logger sees it.
#pragma once

#include <string>

namespace weft {

void InstallLibbpfLog();
void ClearLibbpfLog();
// The last maxLines lines (at most maxChars characters) of what libbpf said since the last clear.
std::string LibbpfLogTail(size_t maxLines = 40, size_t maxChars = 4000);

}  // namespace weft
