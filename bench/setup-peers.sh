#!/usr/bin/env bash
# Install the peer tools the benchmarks compare against, into git-ignored directories of bench/:
#   bench/.venv-jentic   jentic arazzo-runner 0.9.6 (PyPI), in its own virtualenv
#   bench/node           @stoplight/prism-cli 5.14.2 (Prism mock server) and @redocly/cli 2.77.0 (respect)
# Re-running is cheap: each tool is skipped when already installed. Needs python3 (3.11+), node >= 20.19, npm.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"

if [ ! -x "$here/.venv-jentic/bin/arazzo-runner" ]; then
  "$python" -m venv "$here/.venv-jentic"
  "$here/.venv-jentic/bin/pip" install --quiet --disable-pip-version-check "arazzo-runner==0.9.6"
fi

mkdir -p "$here/node"
if [ ! -x "$here/node/node_modules/.bin/prism" ] || [ ! -x "$here/node/node_modules/.bin/redocly" ]; then
  cd "$here/node"
  [ -f package.json ] || npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5.14.2 @redocly/cli@2.77.0
fi

"$here/.venv-jentic/bin/arazzo-runner" --help >/dev/null
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true "$here/node/node_modules/.bin/redocly" --version
"$here/node/node_modules/.bin/prism" --version
echo "peers installed under $here/.venv-jentic and $here/node"
