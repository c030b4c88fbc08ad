#!/usr/bin/env bash
# CARMS's advantage over LOORF as n grows, K = 10, one fixed probability vector (the sweep gives
# every grid point its own seed; --probs keeps p the same across the grid): CARMS-I under the
# Dirichlet and the Gaussian copula, and stick-breaking CARMS, each relative to LOORF.
# Usage: examples/carms_vs_n.sh [TRIALS_PER_POINT]   (default 200000)
set -euo pipefail
trials="${1:-200000}"
p="0.3,0.2,0.12,0.1,0.08,0.07,0.05,0.04,0.03,0.01"
carms sweep --categories 10 --probs "$p" --samples 2..8 --estimators loorf,carms,carms-gauss,carms-sb \
    --trials "$trials" --jsonl - --quiet |
python -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
print(" n   carms/loorf   carms-gauss/loorf   carms-sb/loorf")
for n in sorted({r["samples"] for r in rows}):
    ratio = {r["estimator"]: r["variance_ratio_to_loorf"] for r in rows if r["samples"] == n}
    print("%2d   %11.3f   %17.3f   %14.3f" % (n, ratio["carms"], ratio["carms-gauss"], ratio["carms-sb"]))
'
