#!/usr/bin/env bash
# `npm run bench [-- --quick]`: performance figures side by side, ratios against baselines
# measured in the same run, PASS/FAIL per target, written to bench/RESULTS.md. Starts its
# own redis-server (port 6393) and network namespaces; all load goes to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-server >/dev/null || { echo "bench needs redis-server (apt-get install redis-server)" >&2; exit 1; }
exec node --import tsx bench/main.ts "$@"
