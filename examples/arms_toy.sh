#!/usr/bin/env bash
# The ARMS paper's toy figure: gradient variance against p = sigmoid(phi) along gradient ascent
# on E[(z - 0.49)^2], one panel per n, one line per estimator (exact variance dashed).
# Usage: examples/arms_toy.sh [OUT.png] [LR] [REPLICATES]
# Defaults reproduce the paper's run (lr 1, 1000 replicates, n = 2..10 step 2: several minutes);
# a larger LR takes fewer, bigger steps over the same range of p.
set -euo pipefail
out="${1:-arms_toy.png}"
lr="${2:-1}"
replicates="${3:-1000}"
carms train --samples 2,4,6,8,10 --estimators loorf,arm,disarm,arms,arms-gauss \
    --p-init 0.0909 --target 0.9 --lr "$lr" --replicates "$replicates" --plot "$out"
echo "figure written to $out"
