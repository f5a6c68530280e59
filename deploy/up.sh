#!/usr/bin/env bash
# One command from a fresh clone: install what is missing, then start the whole local stack
# (HAProxy, collectors, Prometheus, the fleet, the control plane, the load generator) and print
# where to look. Idempotent: running it again on a running stack just reports where it is.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install.sh
exec .venv/bin/fleetdeck up "$@"
