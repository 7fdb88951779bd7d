#!/usr/bin/env bash
# Candidate evaluation on Prefect's local server: compare a candidate with production on a suite,
# record the decision on the candidate's digest, and let the promotion gate use it.
set -euo pipefail
step() { echo; echo "== $*"; }

step "a candidate summarizer: lead-3 instead of lead-2"
printf 'provider: local\nmodel_id: lead-3-v1\nparams: {sentences: 3}\ndescription: "three lead sentences"\n' > "$DEMO_DIR/summarizer-lead3.yaml"
modelctl register summarizer --file "$DEMO_DIR/summarizer-lead3.yaml" --reason "try a longer summary"

step "modelctl eval run: candidate summarizer@2 vs production (runs the evaluate-candidate flow)"
set +e
modelctl eval run examples/suites/summarization/suite.yaml --candidate summarizer@2
echo "(exit code $?: 0 promote, 1 reject, 3 inconclusive)"
set -e

step "a candidate ticket classifier retrained on the same data (same behaviour, new artifact params)"
ARTIFACT="$PWD/examples/models/ticket-classifier.json"
SHA=$(python -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$ARTIFACT")
printf 'provider: local\nmodel_id: tfidf-logreg-v1\nparams: {artifact_uri: "%s", artifact_sha256: "%s", min_confidence: 0.0}\npricing: {input_per_1m: 0.02, output_per_1m: 0.02}\ndescription: "candidate with a confidence floor"\n' \
  "$ARTIFACT" "$SHA" > "$DEMO_DIR/ticket-triage-v2.yaml"
modelctl register ticket-triage --file "$DEMO_DIR/ticket-triage-v2.yaml" --reason "candidate"

step "modelctl eval run on the ticket-triage suite (classification metrics, latency and cost gates, non-inferiority)"
modelctl eval run examples/suites/ticket-triage/full.yaml --candidate ticket-triage@2 --promote-to-staging

step "the summarizer run side by side: the cases where the candidate and production differ most"
RUN=$(modelctl eval run examples/suites/summarization/suite.yaml --candidate summarizer@2 --json \
      | python -c 'import json,sys; print(json.load(sys.stdin)["run_id"])') || true
modelctl eval show "$RUN" --cases --limit 3

step "re-running the unchanged suite makes no provider calls (response cache)"
modelctl eval run examples/suites/ticket-triage/suite.yaml --candidate ticket-triage@2 --json \
  | python -c 'import json,sys; r=json.load(sys.stdin); print("decision:", r["decision"], "| exact_match:", r["scores"]["exact_match"])'

step "the flow recorded a passing evaluation on the candidate's digest: promotion now passes the gate"
modelctl show ticket-triage@2 --json | python -c 'import json,sys; e=json.load(sys.stdin)["evaluation"]; print({k: e[k] for k in ("suite", "decision", "passed", "source")})'
modelctl promote ticket-triage@2 --to production --reason "passed ticket-triage suite"
modelctl validate
