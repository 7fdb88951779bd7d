#!/usr/bin/env bash
# Deprecation scanning offline: the bundled copies of the OpenAI and Anthropic pages (with their quirks),
# a LiteLLM feed and a project feed, matched against the registry; plans, severities and a second,
# idempotent scan.
set -euo pipefail
step() { echo; echo "== $*"; }
SOURCES=(--source openai=examples/deprecations/openai.md --source anthropic=examples/deprecations/anthropic.md
         --source litellm=examples/deprecations/litellm.json --source feed=examples/deprecations/feed.yaml
         --source openai-models=api --source anthropic-models=api)

step "scan (as of 2026-11-23): the API model lists are skipped without keys, not failed"
modelctl deprecations scan "${SOURCES[@]}" --today 2026-11-23

step "the migration plans in the registry"
modelctl deprecations list

step "a second scan of the same notices creates nothing and emits nothing"
modelctl deprecations scan "${SOURCES[@]}" --today 2026-11-23 --json \
  | python -c 'import json,sys; r=json.load(sys.stdin); print("changes:", r["changes"], "events:", r["events"])'

step "a source whose page no longer parses is reported as failed (exit 4), never as 'no deprecations'"
printf '# This page has moved\n' > "$DEMO_DIR/moved.md"
set +e
modelctl deprecations scan --source "openai=$DEMO_DIR/moved.md" --source feed=examples/deprecations/feed.yaml --today 2026-11-23
echo "(exit code $?)"

step "validate now flags the production model whose provider shuts it down in 7 days"
modelctl validate
echo "(exit code $?)"
set -e

step "resolving it logs one deprecation warning per process"
python -c "
import logging; logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
from modelctl import resolve
for _ in range(3):
    r = resolve('summarization-primary')
print('resolved', r.name, r.version, r.config.model_id)"
