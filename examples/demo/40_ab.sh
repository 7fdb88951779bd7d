#!/usr/bin/env bash
# A/B experiments: start one in the registry (users routed by a stable hash), analyse a request-log
# table with user-level statistics, and see a canary advance step by step.
set -euo pipefail
step() { echo; echo "== $*"; }

step "start an A/B test: summarizer@1 (production) vs summarizer@2 at 10% (forced: @2 was inconclusive)"
modelctl experiment start summarizer --control summarizer@production --treatment summarizer@2 --split 0.10 \
  --primary quality_score --guardrail latency_ms:0.05 --guardrail error_rate:0 --force --reason "demo A/B"
modelctl resolve summarizer --user-id u-1001 --json | python -c 'import json,sys; r=json.load(sys.stdin); print("u-1001 ->", r["arm"], "version", r["version"])'
modelctl complete summarizer --input "Sales grew. Costs fell. Margins rose." --user-id u-1001 >/dev/null
modelctl experiment list

step "analyse the bundled request-log table (3,000 users, many requests each, feedback on a third)"
set +e
modelctl ab analyze summarizer-exp-1 --logs examples/ab/sample.csv --planned-split 0.2 \
  --guardrail latency_ms:0.05 --guardrail error_rate:0 --chart "$DEMO_DIR/ab-effects.png"
echo "(exit code $?: 0 ship, 1 rollback, 3 continue, 4 invalid)"

step "the same table against a wrong planned split: sample-ratio mismatch makes it invalid"
modelctl ab analyze summarizer-exp-1 --logs examples/ab/sample.csv --planned-split 0.5 --json \
  | python -c 'import json,sys; r=json.load(sys.stdin); print(r["decision"], r["srm"])'
echo "(exit code ${PIPESTATUS[0]})"
set -e

step "stop the A/B test"
modelctl experiment stop summarizer-exp-1 --reason "demo over"

step "a canary of ticket-triage@1 back in production: steps 10,50,100; abort sends traffic back at once"
modelctl canary start ticket-triage --candidate ticket-triage@1 --steps 10,50,100 --step-min-samples 100 --force \
  --reason "demo canary"
modelctl canary status ticket-triage
modelctl canary advance ticket-triage --reason "manual step"
modelctl canary abort ticket-triage --reason "demo: abort"
modelctl history ticket-triage | tail -4

step "a canary on real traffic that finishes: summarizer@3 at 10%, then 50%, then promoted"
printf 'provider: local\nmodel_id: lead-3-v1\nparams: {sentences: 2}\ntemperature: 0.0\ndescription: "lead-2 at temperature 0"\n' \
  > "$DEMO_DIR/summarizer-v3.yaml"
modelctl register summarizer --file "$DEMO_DIR/summarizer-v3.yaml" --reason "canary candidate"
modelctl eval record summarizer@3 --suite smoke --passed --reason "demo: smoke suite"
modelctl canary start summarizer --candidate summarizer@3 --steps 10,50,100 --step-min-samples 20 \
  --guardrail error_rate:0 --guardrail latency_ms:0.5
python examples/ab/traffic.py summarizer --users 300
modelctl ab analyze summarizer-exp-2 --apply | grep -E "Decision|guardrail|advanced|^\* canary" || true
step "the same users come back at 50%: each step is analysed on its own window, so nobody counts twice"
python examples/ab/traffic.py summarizer --users 300
set +e
modelctl ab analyze summarizer-exp-2 --apply | grep -E "Decision|guardrail|promoted|^\* canary"
set -e
modelctl show summarizer --json | python -c 'import json,sys; print("summarizer production is now version", json.load(sys.stdin)["environments"]["production"])'
modelctl experiment list
