#!/usr/bin/env bash
# Problem A of the spec (p = [.1, .2, .3, .4], f = [3, -1, 2, .5], n = 3): CARMS against LOORF.
# Usage: examples/problem_a.sh [TRIALS]   (default 1000000)
set -euo pipefail
trials="${1:-1000000}"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
printf '3,-1,2,0.5\n' > "$workdir/problem_a.csv"
carms variance --probs 0.1,0.2,0.3,0.4 --objective "file:$workdir/problem_a.csv" \
    --samples 3 --trials "$trials" --seed 1 --json "$workdir/a.json" --fail-on-bias
python - "$workdir/a.json" <<'PY'
import json, sys
record = json.load(open(sys.argv[1]))
total = {e["name"]: e["variance_total"] for e in record["estimators"]}
print(f"carms / loorf total variance: {total['carms'] / total['loorf']:.3f} (exact 0.4746 / 0.6053 = 0.784)")
PY
