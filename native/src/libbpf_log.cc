#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace weft {
namespace {

// Bounded: a verifier log can be megabytes; only its end says why the program was rejected.
constexpr size_t kKeep = 256 * 1024;

std::mutex mutex;
std::string buffer;

int Collect(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(line, sizeof(line), format, copy);
  va_end(copy);
  std::lock_guard<std::mutex> lock(mutex);
  if (n >= static_cast<int>(sizeof(line))) {
    // Long lines (the verifier log comes as one big string) are formatted again at full length.
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), format, args);
    big.resize(static_cast<size_t>(n));
    buffer += big;
  } else if (n > 0) {
    buffer.append(line, static_cast<size_t>(n));
  }
  if (buffer.size() > kKeep) buffer.erase(0, buffer.size() - kKeep);
  return n;
}

}  // namespace

void InstallLibbpfLog() { libbpf_set_print(Collect); }

void ClearLibbpfLog() {
  std::lock_guard<std::mutex> lock(mutex);
  buffer.clear();
}

std::string LibbpfLogTail(size_t maxLines, size_t maxChars) {
  std::lock_guard<std::mutex> lock(mutex);
  std::string text = buffer;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  size_t start = text.size();
  size_t lines = 0;
  while (start > 0 && lines < maxLines) {
    size_t nl = text.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    start = nl;
    lines++;
  }
  std::string tail = text.substr(start == 0 ? 0 : start + 1);
  if (tail.size() > maxChars) tail = "..." + tail.substr(tail.size() - maxChars);
  return tail;
}

}  // namespace weft
