#!/usr/bin/env bash
# The whole test suite: installs what is missing (idempotent), then runs every layer:
# import contracts, fast unit tests, component tests against real HAProxy / Prometheus /
# PostgreSQL / fleet processes, end-to-end tests of the whole stack and the dashboard in Chromium.
#   ./deploy/test.sh              everything
#   ./deploy/test.sh -m "not component and not e2e"   the fast layer only (seconds, no servers)
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install.sh
export PATH="$PWD/.venv/bin:$PWD/.tools/bun/node_modules/.bin:$PATH"
export REFLEX_USE_SYSTEM_BUN=1
# PostgreSQL-backed variants of the store tests use this URL (CI and dev machines run one here).
export FLEETDECK_TEST_PG_URL="${FLEETDECK_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
echo "== import contracts"
lint-imports
echo "== pytest"
set +e
python -m pytest -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
