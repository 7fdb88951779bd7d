#!/usr/bin/env bash
# Production monitoring and drift probes, offline: the monitor over the demo's own gateway traffic and over a
# week of history with a regressed version; a probe that records a reference and then finds no drift.
set -euo pipefail
step() { echo; echo "== $*"; }

step "monitor the demo's gateway traffic (every request is minutes old: no baseline yet, so nothing is decided)"
modelctl monitor summarizer --json | python -c 'import json,sys; r=json.load(sys.stdin); m=r["models"][0]; v=m["versions"][0]; print(r["status"], "| served:", m["served_in_window"], "|", v["requests"], "requests from", v["users"], "users |", sorted({x["status"] for x in v["metrics"]}))'

step "a week of history, then a day of a worse version: degraded metrics become modelctl.monitor.degraded events"
python examples/monitor/history.py "$DEMO_DIR/monitor-history.parquet"
set +e
modelctl monitor summarizer --logs "$DEMO_DIR/monitor-history.parquet" --now 2026-11-20T12:00:00Z \
  --chart-dir "$DEMO_DIR" | grep -E "^# |Status|^## |\| (quality_score|error_rate|latency_p95_ms|cost_per_1k_usd) "
echo "(exit code ${PIPESTATUS[0]}: 0 ok, 1 degraded; chart: $DEMO_DIR/monitor-summarizer.png)"
set -e

step "drift probe: the first run records a reference for the serving digest (calls and cost are printed first)"
modelctl probe summarizer --inputs examples/probes/summarizer.jsonl --budget-usd 0.50

step "a later run samples again and tests for a silent change: the local model has not changed"
modelctl probe summarizer
