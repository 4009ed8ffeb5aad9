#!/bin/sh
# run.sh owns `make test-browser`'s setup: installs Debian's chromium (and node/npm) when missing
# and playwright-core from npm into tests/e2e/browser/node_modules, then runs test_ui.mjs
# against the given metricstor binary.
set -e
bin="${1:-build/metricstor}"
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
  echo "installing:$need"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need
fi
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
shift $(( $# > 0 ? 1 : 0 ))
exec node "$here/test_ui.mjs" --binary "$bin" "$@"
