#!/usr/bin/env bash
# Write the plan of a desired-state file as a pull-request comment body (any CI system).
#   examples/ci/plan-comment.sh models.yaml comment.md     -> exit code of `modelctl plan`
set -uo pipefail
file=${1:-models.yaml}; out=${2:-comment.md}
modelctl plan "$file" > plan.txt 2> plan.err; code=$?
{
  echo "### \`modelctl plan $file\`"
  echo '```'; cat plan.txt plan.err; echo '```'
  case $code in
    0) echo "No changes." ;;
    3) echo "Changes pending: they are applied on merge." ;;
    1) echo "**A change would be refused** by a registry gate: see above." ;;
    *) echo "**The file is invalid** (file, line and field above)." ;;
  esac
} > "$out"
exit $code
