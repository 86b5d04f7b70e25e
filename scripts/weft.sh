#!/usr/bin/env bash
# `weft <command>` on the project's Node.js 24: agent | status | check | explain | tap | demo
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$root/scripts/weft-node.sh" "$root/agent/cli/main.ts" "$@"
