"""The CARMS paper's toy (spec 14.2): D = 3 variables, K = 3 categories, n = 3 evaluations, the
additive `linear` objective f = Σ_d fmat[d, z_d] with fmat = 3·[[1,2,3],[4,5,6],[7,8,9]], and
probabilities drawn from Dirichlet(α) for α ∈ {1, 10, 100, 1000}.

For loorf, carms, carms-g and unord it prints the median ± std of ln(per-coordinate variance)
over the 9 logit gradients — the quantity the paper's toy figure plots as boxplots. Variances
are exact (enumeration) where carms-cli can enumerate (loorf, carms, unord) and Monte Carlo
otherwise (carms-g: marked "mc"). Every number comes from `carms variance --json`.

Usage: python examples/carms_toy.py [TRIALS] [SEED]   (defaults 200000 and 1)
"""

import json
import subprocess
import sys

import numpy as np

ESTIMATORS = ["loorf", "carms", "carms-g", "unord"]
ALPHAS = [1, 10, 100, 1000]


def run(alpha: float, trials: int, seed: int) -> dict:
    command = [
        *("carms", "variance", "--categories", "3", "--dims", "3", "--samples", "3"),
        *("--objective", "linear", "--alpha", str(alpha), "--seed", str(seed), "--trials", str(trials)),
        *("--estimators", ",".join(ESTIMATORS), "--exact", "--quiet", "--json", "-"),
    ]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    print(f"CARMS toy: D=3, K=3, n=3, objective linear, seed {seed}; ln(per-coordinate variance), median ± std")
    print(f"{'alpha':>6}  " + "  ".join(f"{name:>14}" for name in ESTIMATORS))
    for alpha in ALPHAS:
        record = run(alpha, trials, seed)
        cells = []
        for name in ESTIMATORS:
            entry = next(e for e in record["estimators"] if e["name"] == name)
            exact = entry["variance_exact"] is not None
            log_var = np.log(np.asarray(entry["variance_exact"] if exact else entry["variance"]))
            cell = f"{np.median(log_var):.2f}±{np.std(log_var):.2f}" + ("" if exact else " mc")
            cells.append(f"{cell:>14}")
        print(f"{alpha:>6}  " + "  ".join(cells))
    print(f"exact: enumeration of every joint outcome; mc: {trials:,} Monte Carlo trials")


if __name__ == "__main__":
    main()
