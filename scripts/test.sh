#!/usr/bin/env bash
# The test command: type-check, lint, install the agent CLIs (into .tools/), then every test file
# under test/ with Node's test runner.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$VT_ROOT"
echo "== typecheck" >&2
npx tsc -p tsconfig.json
npx tsc -p web/tsconfig.json
echo "== lint" >&2
npx biome check .
echo "== agent CLIs" >&2
bash scripts/agent-clis.sh >/dev/null # the real Claude Code, Codex and Gemini CLI the agent tests drive
echo "== tests" >&2
files=$(find test -name '*.test.ts' | sort)
if [ "$#" -gt 0 ]; then files="$*"; fi
exec node --test --test-concurrency=2 --test-timeout=600000 $files
