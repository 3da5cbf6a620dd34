#!/usr/bin/env bash
# README's test command (`npm test`): installs what the tests need, then lint, format
# check, type check and both test lanes, unit first (see vitest.config.ts):
#   unit    `*.test.ts`: needs nothing, no timing; well under a minute.
#   system  `*.system.test.ts`: Redis, network namespaces, Chromium, spawned processes.
# WEBKNOCK_TEST_LANE=unit or =system runs one lane only. Extra arguments go to vitest
# (e.g. a file filter). Tests start their own redis-server on a private port and their
# own network namespaces; nothing touches the host's firewall.
set -euo pipefail
cd "$(dirname "$0")/.."
lane="${WEBKNOCK_TEST_LANE:-all}"
if [ "$lane" != unit ]; then
  bash scripts/ensure-system-deps.sh
fi
bash scripts/ensure-node-deps.sh
echo "== lint" && npx eslint --max-warnings 0 .
echo "== format" && npx prettier --check . >/dev/null
echo "== typecheck" && npx tsc -p tsconfig.check.json
run_lane() {
  local name="$1"
  shift
  local started=$SECONDS
  echo "== tests: $name lane"
  npx vitest run --passWithNoTests "$@"
  echo "== $name lane: $((SECONDS - started)) s"
}
if [ "$lane" != system ]; then run_lane unit --project unit "$@"; fi
if [ "$lane" != unit ]; then run_lane system --project system --project system-serial "$@"; fi
