"""The Monte Carlo gradient survey's figures 2-3 (Mohamed et al. 2020, JMLR), from `carms sweep`.

Usage: python examples/survey_figures.py [OUT.png] [TRIALS] [POINTS]

Gaussian x ~ N(mu, sigma^2) with mu = sigma = 1, one sample per estimate (n = 1); objectives
(x - k)^2 on k in [-3, 3], exp(-k x^2) on k in [0.1, 10] and cos(k x) on k in [0.5, 5] (both
log-spaced); the variance of the gradient w.r.t. mu and w.r.t. sigma of the score function, the
score function with the optimal constant baseline, pathwise and (coupled) measure-valued
estimators. The curves are exact, by quadrature (`--exact-only`, POINTS values of k, default
61); the markers are Monte Carlo variances with 95% intervals at 7 values of k (TRIALS trials
each, default 100000; 0: none). Every sweep is printed as the `carms sweep` command it is.
"""

import io
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

from carms_cli.cli.app import main

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "figures" / "survey_fig2_3.png"
TRIALS = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
POINTS = int(sys.argv[3]) if len(sys.argv) > 3 else 61

ESTIMATORS = "score,score-baseline,pathwise,mvd"
#: objective, its k range as START:STOP, log-spaced, its formula
PANELS = [
    ("square", "-3:3", False, "f(x) = (x − k)²"),
    ("exp", "0.1:10", True, "f(x) = exp(−k x²)"),
    ("cos", "0.5:5", True, "f(x) = cos(k x)"),
]


def sweep(objective: str, k_range: str, log: bool, count: int, extra: list[str], folder: Path) -> list[dict]:
    """Run one `carms sweep --family continuous` over k and return its rows."""
    k = f"{k_range}:{count}" + (":log" if log else "")
    args = ["sweep", "--family", "continuous", "--mu", "1", "--sigma", "1", "-o", objective, f"--k={k}"]
    args += ["-n", "1", "-e", ESTIMATORS, *extra, "-q"]
    path = folder / f"{objective}{'-mc' if '-t' in extra else ''}.json"
    print("$ carms " + shlex.join(args))
    if main([*args, "--json", str(path)]) != 0:
        sys.exit(f"the sweep over {objective} failed")
    return json.loads(path.read_text())["rows"]


def main_figure() -> None:
    """Run the sweeps, draw the 3 × 2 figure and write it to OUT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from carms_cli.present.charts import draw_continuous_sweep

    fig, axes = plt.subplots(len(PANELS), 2, figsize=(8.6, 9.6))
    with tempfile.TemporaryDirectory() as folder:
        for row_axes, (objective, k_range, log, formula) in zip(axes, PANELS, strict=True):
            rows = sweep(objective, k_range, log, POINTS, ["--exact-only"], Path(folder))
            if TRIALS:
                rows += sweep(objective, k_range, log, 7, ["-t", str(TRIALS), "--seed", "1"], Path(folder))
            draw_continuous_sweep(row_axes, rows, "k", log_x=log)
            for axis in row_axes:
                axis.set_title(f"{formula} · {axis.get_title()}", fontsize=9)
            exact = {
                (r["param"], r["estimator"]): r["variance_exact_total"]
                for r in rows
                if r["trials"] is None and r["k"] == rows[0]["k"]
            }
            print(
                f"{objective}, k = {rows[0]['k']:g}: "
                + ", ".join(f"{e} {exact[('mu', e)]:.4g}/{exact[('sigma', e)]:.4g}" for e in ESTIMATORS.split(","))
                + " (variance for mu/sigma)"
            )
    axes[0][1].legend(fontsize=8)
    how = "lines: exact by quadrature" + (f"; markers: Monte Carlo ({TRIALS:,} trials, 95% CI)" if TRIALS else "")
    fig.suptitle(f"N(μ = 1, σ = 1), n = 1 · variance of one gradient estimate · {how}", fontsize=9)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    # a 64-colour palette keeps the committed figure small (Pillow comes with matplotlib)
    from PIL import Image

    Image.open(buffer).convert("RGB").quantize(colors=64).save(OUT, optimize=True)
    print(f"figure written: {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main_figure()
