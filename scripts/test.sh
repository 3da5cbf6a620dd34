#!/usr/bin/env bash
# README's test command (`npm test`): installs what the tests need, then lint, format
# check, type check and every test. Tests start their own redis-server on a private port
# and their own network namespaces; nothing touches the host's firewall.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh
bash scripts/ensure-node-deps.sh
echo "== lint" && npx eslint --max-warnings 0 .
echo "== format" && npx prettier --check . >/dev/null
echo "== typecheck" && npx tsc -p tsconfig.check.json
echo "== tests" && npx vitest run "$@"
