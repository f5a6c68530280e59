#!/usr/bin/env bash
# Install whatever is missing, and nothing else (idempotent; safe to run again and again):
#   - Debian packages: haproxy, prometheus, chromium + chromium-driver (the dashboard's browser tests)
#   - the Python virtual environment .venv with the pinned packages (constraints.txt)
#   - the dashboard's front-end toolchain, when deploy/install-frontend.sh exists
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)  # the dashboard's bun comes from the npm registry
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${need_apt[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The Debian packages start system services on their default ports; Fleetdeck runs its own.
  for svc in haproxy prometheus; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating the virtual environment .venv"
  "$PY" -m venv .venv
fi
# Reinstall only when the pins or the package metadata changed since the last install.
stamp=.venv/.fleetdeck-installed
want="$(cat constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! .venv/bin/python -c "import control_plane, fleet" 2>/dev/null \
   || [ ! -x .venv/bin/fleetdeck ]; then
  echo "== installing Python packages (pinned by constraints.txt)"
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  echo "$want" > "$stamp"
fi

if [ -x deploy/install-frontend.sh ]; then
  ./deploy/install-frontend.sh
elif [ -f deploy/install-frontend.sh ]; then
  bash deploy/install-frontend.sh
fi
echo "== installed: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3), $(.venv/bin/python -V)"
