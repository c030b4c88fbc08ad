"""Figures: the ARMS toy figure (variance against p, one panel per n, one line per estimator).

matplotlib is the optional extra ``carms-cli[plot]`` and is imported only here, only when a
figure file is asked for.
"""

from pathlib import Path

from carms_cli.errors import InputError


def write_train_figure(trajectories, path: str) -> None:
    """Write the figure to ``path`` (.png or .svg): log-scale variance across replicates against
    p, one panel per n, one line per estimator; the exact variance dashed where known."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InputError(f"--plot must end in .png or .svg, got '{path}'")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'carms-cli[plot]'") from None
    sizes = sorted({t.samples for t in trajectories})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 3.4), sharey=True, squeeze=False)
    for axis, n in zip(axes[0], sizes, strict=True):
        for index, t in enumerate(x for x in trajectories if x.samples == n):
            color = f"C{index}"
            axis.plot(t.p, t.variance, color=color, lw=1, label=t.estimator)
            exact = [(p, v) for p, v in zip(t.p, t.variance_exact, strict=True) if v is not None and v > 0]
            if exact:
                axis.plot(*zip(*exact, strict=True), color=color, lw=1, ls="--")
        axis.set_yscale("log")
        axis.set_xlabel("p = sigmoid(φ)")
        axis.set_title(f"n = {n}")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("gradient variance")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise InputError(f"cannot write the figure to '{path}': {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
