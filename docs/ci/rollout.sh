#!/usr/bin/env bash
# Roll a new version of one service out through Fleetdeck and fail the job if it is rolled back.
#
#   FLEETDECK_API_URL=https://fleetdeck.example:7000 FLEETDECK_TOKEN=<deployer token> \
#     docs/ci/rollout.sh cart v2 [spec.yaml]
#
# Exit codes (from `fleetdeck rollout start --wait`): 0 promoted, 1 rolled back (the reason and the
# evidence are printed), 3 the machinery failed, 4 timed out waiting (the rollout carries on).
# The Idempotency-Key makes a retried job attach to the rollout it already started instead of
# starting a second one.
set -euo pipefail

service="${1:?usage: rollout.sh SERVICE VERSION [SPEC.yaml]}"
version="${2:?usage: rollout.sh SERVICE VERSION [SPEC.yaml]}"
spec="${3:-}"
: "${FLEETDECK_API_URL:?set FLEETDECK_API_URL}"
: "${FLEETDECK_TOKEN:?set FLEETDECK_TOKEN (a deployer token)}"
key="${CI_JOB_ID:-${GITHUB_RUN_ID:-manual}}-${service}-${version}"

args=(rollout start "$service" "$version" --wait --timeout "${ROLLOUT_TIMEOUT_S:-3600}" --idempotency-key "$key")
if [[ -n "$spec" ]]; then
  args+=(-f "$spec")
fi

set +e
fleetdeck "${args[@]}"
code=$?
set -e
case "$code" in
  0) echo "✔ $service $version promoted" ;;
  1) echo "✘ $service $version was rolled back (see the evidence above)" >&2 ;;
  3) echo "✘ the rollout of $service $version failed (the control plane could not carry out an action)" >&2 ;;
  4) echo "… still running after the timeout; follow it with: fleetdeck rollout list --service $service" >&2 ;;
  *) echo "✘ fleetdeck exited with $code" >&2 ;;
esac
exit "$code"
