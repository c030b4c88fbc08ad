#!/usr/bin/env bash
# A CI gate: record a baseline once, then fail the build when an estimator's variance regresses
# significantly (beyond a tolerance) or an unbiased estimator turns biased.
# Usage: examples/ci_gate.sh [TRIALS]   (default 500000)
set -euo pipefail
trials="${1:-500000}"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
problem=(--categories 10 --samples 4 --estimators loorf,carms,carms-sb --seed 1)

# once, on the reference revision (commit the file in a real project)
carms variance "${problem[@]}" --trials "$trials" --quiet --json "$workdir/baseline.json"

# on every build: the same problem, any seed-independent trial count; exit 1 fails the job
carms variance "${problem[@]}" --trials "$trials" --quiet --json "$workdir/current.json" --fail-on-bias
carms compare "$workdir/baseline.json" "$workdir/current.json" --tolerance variance:10%
echo "gate passed"
