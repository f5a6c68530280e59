#!/usr/bin/env bash
# Set up what Reflex needs to build the dashboard's front end, on a machine without internet
# access except the package registries. Idempotent: every step is skipped when already done.
#
#   1. bun from the npm registry into .tools/bun (Reflex's own bun download needs the internet,
#      and Node.js 20 is too old for Reflex's npm mode); Reflex uses it with REFLEX_USE_SYSTEM_BUN=1.
#   2. `reflex init`-equivalent: the .web folder and its npm packages, fetched once by a
#      front-end-only export (later builds reuse node_modules and take seconds).
#
# Afterwards, in a shell that runs reflex:
#   export PATH="$PWD/.tools/bun/node_modules/.bin:$PATH" REFLEX_USE_SYSTEM_BUN=1
# Options: --no-build   only install bun (skip fetching the front end's npm packages)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
BUN_DIR="$ROOT/.tools/bun"
BUN_VERSION=1.4.5  # pinned like the Python packages; reflex.lock/ pins the front end's own packages
PY="${PYTHON:-$ROOT/.venv/bin/python}"

if [ ! -x "$BUN_DIR/node_modules/.bin/bun" ]; then
  command -v npm >/dev/null || { echo "install-frontend: npm is required (apt-get install npm)" >&2; exit 1; }
  echo "install-frontend: installing bun from the npm registry into .tools/bun"
  mkdir -p "$BUN_DIR"
  [ -f "$BUN_DIR/package.json" ] || echo '{"name": "fleetdeck-tools", "private": true}' > "$BUN_DIR/package.json"
  (cd "$BUN_DIR" && npm install --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION")
fi
"$BUN_DIR/node_modules/.bin/bun" --version >/dev/null || { echo "install-frontend: bun does not run" >&2; exit 1; }

export PATH="$BUN_DIR/node_modules/.bin:$PATH" REFLEX_USE_SYSTEM_BUN=1

if [ "${1:-}" != "--no-build" ] && [ ! -d "$ROOT/.web/node_modules/recharts" ]; then
  echo "install-frontend: fetching the dashboard's front-end packages (first time only, a minute or two)"
  "$PY" -m reflex export --frontend-only --no-zip --loglevel warning
fi
echo "install-frontend: ready (bun $("$BUN_DIR/node_modules/.bin/bun" --version))"
