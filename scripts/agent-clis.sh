#!/usr/bin/env bash
# Install the coding-agent CLIs the presets are proven on (Claude Code, Codex, Gemini CLI, at the
# versions in src/agents/executors/presets.ts) into .tools/agents/, outside the project's
# dependencies: together they weigh about 750 MB. test/agent-clis.test.ts runs them from there.
# Idempotent, and quiet when they are already there. Prints the folder of their binaries on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
dir="$VT_ROOT/.tools/agents"
bin="$dir/node_modules/.bin"

# "package version" lines, from the presets' table: one source of truth for the pins.
pins=$(cd "$VT_ROOT" && node --input-type=module -e '
  const { PRESETS } = await import("./src/agents/executors/presets.ts");
  for (const p of Object.values(PRESETS)) if (p.proven && p.installer === "npm") console.log(p.package, p.proven);')

installed() {
  while read -r pkg ver; do
    [ "$(node -p "require('$dir/node_modules/$pkg/package.json').version" 2>/dev/null)" = "$ver" ] || return 1
  done <<<"$pins"
}

if ! installed; then
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9 # another checkout sharing .tools/ may be installing them right now
  if ! installed; then
    echo "vt: installing the agent CLIs into .tools/agents/ (one time, about 30 s):" $pins >&2
    deps=$(while read -r pkg ver; do printf '"%s": "%s",' "$pkg" "$ver"; done <<<"$pins")
    printf '{"private": true, "dependencies": {%s}}\n' "${deps%,}" >"$dir/package.json"
    npm install --prefix "$dir" --no-package-lock --no-audit --no-fund --loglevel=error >&2 ||
      { echo "vt: could not install the agent CLIs" >&2; exit 1; }
    installed || { echo "vt: the agent CLIs installed are not the pinned versions" >&2; exit 1; }
  fi
  exec 9>&-
fi
echo "$bin"
