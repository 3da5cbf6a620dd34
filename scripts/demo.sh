#!/usr/bin/env bash
# README's run command (`npm run demo`): builds webknock and runs it on its embedded
# defaults (memory store, dry-run `log` firewall, a demo door) on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
npx tsc -p tsconfig.json
exec node dist/cli/main.js demo "$@"
