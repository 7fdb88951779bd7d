#!/usr/bin/env bash
# The seed's compliance checklist, model by model, with the evidence behind each verdict. Items fail on the
# demo registry (no owner here, no corpus size there): the report is the point, so a failing exit is shown,
# not fatal.
set -euo pipefail
step() { echo; echo "== $*"; }

step "compliance: ten checklist items for every model in use (exit 0 all pass, 1 some fail)"
set +e
modelctl compliance --markdown "$DEMO_DIR/compliance.md"
code=$?
set -e
echo "(exit code $code; the report is also in $DEMO_DIR/compliance.md)"

step "the same as JSON: which items fail"
modelctl compliance --json | python -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], "|", len(r["models"]), "models |", "failed:", ", ".join(r["failed"]) or "none")' || true

step "every model in use has a deprecation plan: announced ones, and none-announced ones with a review date"
modelctl deprecations list
