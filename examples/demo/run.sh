#!/usr/bin/env bash
# Runs every demo step in order against a fresh registry under $DEMO_DIR (offline, no API keys).
set -euo pipefail
: "${DEMO_DIR:?set DEMO_DIR}"
export MODELCTL_REGISTRY="$DEMO_DIR/registry" MODELCTL_LOG="$DEMO_DIR/logs" MODELCTL_CACHE="$DEMO_DIR/cache"
export MODELCTL_ACTOR="${MODELCTL_ACTOR:-demo}" MODELCTL_USER_HASH_KEY="${MODELCTL_USER_HASH_KEY:-demo-hash-key}"
export PREFECT_HOME="$DEMO_DIR/prefect" PREFECT_LOGGING_LEVEL="${PREFECT_LOGGING_LEVEL:-WARNING}"
export PYTHONWARNINGS="ignore"
cd "$(dirname "$0")/../.."
for step in examples/demo/[0-9][0-9]_*.sh; do
  echo
  echo "################ $(basename "$step" .sh)"
  bash "$step"
done
echo
echo "demo finished: everything it wrote is under $DEMO_DIR"
