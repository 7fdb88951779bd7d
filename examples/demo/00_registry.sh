#!/usr/bin/env bash
# The registry on the bundled example: import -> register -> evaluate-record -> promote -> resolve
# -> rollback -> history.
set -euo pipefail
step() { echo; echo "== $*"; }
CFG="$DEMO_DIR/summarizer-v1.1.yaml"

step "modelctl init  (registry at $MODELCTL_REGISTRY)"
modelctl init

step "import the seed's model-registry.yaml"
modelctl import examples/model-registry.yaml
modelctl list

step "validate: every production version strictly pinned and gated"
modelctl validate

step "register a new version of summarization-primary (the seed's summarizer-v1.1 prompt)"
cat > "$CFG" <<'YAML'
provider: anthropic
model_id: claude-sonnet-4-5-20250929
system_prompt: "Summarize in 2-3 sentences. Focus on actionable insights."
temperature: 0.2
max_tokens: 256
pricing: {input_per_1m: 3.0, output_per_1m: 15.0}
description: "v1.1: focus on actionable insights; lower temperature for consistency"
YAML
modelctl register summarization-primary --file "$CFG" --reason "summarizer v1.1 prompt"
step "registering the identical configuration again creates nothing"
modelctl register summarization-primary --file "$CFG"

step "promote without an evaluation record is refused (exit 1)"
if modelctl promote summarization-primary@2 --to production --reason "try"; then exit 1; else echo "(refused, as it should be)"; fi

step "an unpinned alias can never reach production, not even with --force"
printf 'provider: anthropic\nmodel_id: claude-sonnet-4-5\ntemperature: 0.2\n' > "$DEMO_DIR/alias.yaml"
modelctl register summarization-primary --file "$DEMO_DIR/alias.yaml" --reason "alias experiment"
modelctl eval record summarization-primary@3 --suite summarization --passed --scores accuracy=0.96
if modelctl promote summarization-primary@3 --to production --force --reason "try"; then exit 1; else echo "(refused)"; fi

step "record a passing evaluation, promote through staging to production"
modelctl eval record summarization-primary@2 --suite summarization --passed --scores accuracy=0.95 --scores relevance=0.93
modelctl promote summarization-primary@2 --to staging --reason "staging smoke test"
modelctl promote summarization-primary@2 --to production --reason "passed summarization suite"

step "resolve: what serves production now"
modelctl resolve summarization-primary --json

step "diff v1 -> v2: what changed and why"
modelctl diff summarization-primary@1 summarization-primary@2 || true

step "rollback production to the previous version"
modelctl rollback summarization-primary --env production --reason "demo: instant revert"
modelctl resolve summarization-primary

step "history"
modelctl history summarization-primary
