#!/usr/bin/env bash
# Providers, the gateway and the request log, offline with the local backend: register local versions,
# gate and promote them, call them through the gateway, give feedback, read the log back.
set -euo pipefail
step() { echo; echo "== $*"; }
ARTIFACT="$PWD/examples/models/ticket-classifier.json"
SHA=$(python -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$ARTIFACT")

step "register the local ticket classifier (TF-IDF + logistic regression, artifact pinned by sha256)"
cat > "$DEMO_DIR/ticket-triage.yaml" <<YAML
provider: local
model_id: tfidf-logreg-v1
params: {artifact_uri: "$ARTIFACT", artifact_sha256: "$SHA"}
pricing: {input_per_1m: 0.02, output_per_1m: 0.02}
description: "TF-IDF + logistic regression on examples/datasets/tickets_train.jsonl"
purpose: "Support ticket classification (offline)"
owner: team-support
kind: classifier
YAML
modelctl register ticket-triage --file "$DEMO_DIR/ticket-triage.yaml" --reason "local baseline"
modelctl eval record ticket-triage@1 --suite smoke --passed --scores accuracy=0.95
modelctl promote ticket-triage@1 --to production --reason "local baseline passed smoke suite"
modelctl model set ticket-triage --capture-content --reason "demo: capture redacted text for fine-tuning"

step "register the local summarizer (lead-3 baseline) and promote it"
printf 'provider: local\nmodel_id: lead-3-v1\nparams: {sentences: 2}\npurpose: "Document summarization (offline)"\nowner: team-ai-platform\nkind: summarizer\n' \
  > "$DEMO_DIR/summarizer.yaml"
modelctl register summarizer --file "$DEMO_DIR/summarizer.yaml"
modelctl eval record summarizer@1 --suite smoke --passed
modelctl promote summarizer@1 --to production --reason "baseline"

step "call models through the gateway (resolve -> call -> log)"
modelctl complete ticket-triage --input "I was charged twice for my Pro subscription" --user-id u-1001
modelctl complete ticket-triage --input "my parcel never arrived, order #48213" --user-id u-1002
RID=$(modelctl complete ticket-triage --input "please reset my password, mail me at jo@example.com" --user-id u-1003 --json \
      | python -c 'import json,sys; print(json.load(sys.stdin)["request_id"])')
modelctl complete summarizer --input "Revenue rose 5% in Q3. Costs fell. The board approved the plan. Hiring resumes in May." --json

step "a prompt template: variables filled per request, the text streamed as it arrives"
printf 'provider: local\nmodel_id: lead-3-v1\nparams: {sentences: 2}\nprompt_template: "Note for {{ team }}. {{ note }}"\npurpose: "Templated notes (offline)"\nkind: summarizer\n' \
  > "$DEMO_DIR/notes.yaml"
modelctl register notes --file "$DEMO_DIR/notes.yaml"
modelctl eval record notes@1 --suite smoke --passed
modelctl promote notes@1 --to production --reason "baseline"
modelctl resolve notes
modelctl complete notes --var team=billing --var "note=Refunds are delayed. Tell customers. Nothing else." --stream

step "feedback joined to the request by request_id"
modelctl feedback "$RID" --thumbs-up --score 1.0 --label account --verified-by agent-7

step "the request log: every request with the version that served it (user ids are keyed hashes)"
modelctl logs show --limit 5
