#!/usr/bin/env bash
# Fine-tuning, offline with the local trainer: collect verified examples -> validate -> split ->
# train -> evaluate against production -> register with lineage -> A/B test at 10% for 7 days.
set -euo pipefail
step() { echo; echo "== $*"; }
SUITE=examples/suites/ticket-triage/suite.yaml
TICKETS=examples/datasets/tickets_train.jsonl

step "from the request log (the default source): only human-verified feedback counts, and one is not enough"
set +e
modelctl finetune run ticket-triage --suite "$SUITE" --dry-run
echo "(exit code $?: 1 refused, nothing written)"

step "a malformed training file stops before any upload, job or registry change (exit 2: file, row, field)"
{ head -3 "$TICKETS"; echo '{"id": "bad-1", "input": "", "expected": "billing"}'; } > "$DEMO_DIR/bad-tickets.jsonl"
modelctl finetune run ticket-triage --data "$DEMO_DIR/bad-tickets.jsonl" --suite "$SUITE" --min-samples 3
echo "(exit code $?)"
set -e

step "dry run on the bundled support tickets plus what real feedback brings (unverified rows, duplicates,
personal data, tickets that are in the evaluation suite): collect, validate and split only"
python - "$TICKETS" "$DEMO_DIR/tickets-feedback.jsonl" <<'PY'
import json, sys
rows = [dict(json.loads(line), verified_by="agent-7") for line in open(sys.argv[1])]
suite = [json.loads(line) for line in open("examples/suites/ticket-triage/tickets.jsonl")][:4]
extra = [{"id": "x-unverified", "input": "my parcel is late again", "expected": "shipping"},
         {"id": "x-duplicate", "input": "  " + rows[0]["input"].upper(), "expected": rows[0]["expected"], "verified_by": "agent-2"},
         {"id": "x-pii", "input": "refund please, card 4111 1111 1111 1111, mail jo@example.com", "expected": "billing", "verified_by": "agent-7"},
         *({"id": f"x-suite-{i}", "input": r["input"], "expected": r["expected"], "verified_by": "agent-7"} for i, r in enumerate(suite))]
open(sys.argv[2], "w").write("".join(json.dumps(r) + "\n" for r in rows + extra))
PY
modelctl finetune run ticket-triage --data "$DEMO_DIR/tickets-feedback.jsonl" --suite "$SUITE" --min-samples 500 --dry-run

step "fine-tune: train the local classifier, evaluate it against production, register it, start the A/B test"
modelctl finetune run ticket-triage --data "$DEMO_DIR/tickets-feedback.jsonl" --suite "$SUITE" --min-samples 500

step "the new version's lineage: trainer, job, training data (content-addressed, sha256), manifest, evaluation"
modelctl show ticket-triage@3 --json | python -c '
import json, sys
v = json.load(sys.stdin); lin = v["lineage"]
print("model_id:", v["config"]["model_id"], "| artifact:", v["config"]["params"]["artifact_uri"][:40] + "...")
for key in ("trainer", "base_model", "fine_tune_id", "training_data_sha256", "training_date", "parent_version"):
    print(f"{key}: {lin[key]}")
print("manifest splits:", lin["manifest"]["splits"], "| evaluation:", lin["evaluation"]["decision"])'
modelctl experiment list

step "re-running the same fine-tune is a no-op: same artifact, same version, same experiment"
modelctl finetune run ticket-triage --data "$DEMO_DIR/tickets-feedback.jsonl" --suite "$SUITE" --min-samples 500 --json \
  | python -c 'import json,sys; r=json.load(sys.stdin); print({k: r[k] for k in ("decision", "version", "created", "experiment_id")})'
